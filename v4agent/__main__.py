from v4agent.cli.app import main

main()
