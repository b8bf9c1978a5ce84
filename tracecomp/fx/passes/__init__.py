"""Passes over FX graphs (torch.fx.passes): shape_prop."""
