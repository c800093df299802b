"""Terminal output shared by every front end: the consoles and tables that stay readable when narrow."""
