"""How the book shows results to a reader: captions, claims, tables, figures and a run described in words."""
