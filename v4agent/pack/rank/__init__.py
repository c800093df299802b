"""Which files matter most: symbols per file (tree-sitter, or a parse-free path for Python) and PageRank."""
