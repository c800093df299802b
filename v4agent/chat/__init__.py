"""The interactive terminal chat (`v4agent chat`): the agent loop with a person at the keyboard."""
