"""Training data: sources, preparation and the procedural ShapesWorld (DESIGN.md section 3)."""
