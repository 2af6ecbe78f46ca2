"""The demo shop: a believable shop simulated with known ground truth, for trying and testing Patron."""
