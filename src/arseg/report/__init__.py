"""What people read: tables, figures, the spectrogram + scores + segments picture, and the showcase."""
