"""Fitting the pack into its token budget: files degrade full -> skeleton -> path only."""
