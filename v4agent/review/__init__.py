"""`v4agent review`: review a pull request with DeepSeek V4 and post line comments GitHub accepts."""
