"""The allocation LP/MILP: problem types, pieces, the PuLP model, the certificate loop."""
