"""What people read: the tables, the figures, and the showcase of the best model on long held-out audio."""
