"""Tables of the control plane: sorted records with key cursors."""
