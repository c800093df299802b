from v4agent.cli import main

main()
