"""The agent: the loop, the byte-stable request it sends, and the session store it writes."""
