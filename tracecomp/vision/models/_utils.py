"""torchvision.models._utils.IntermediateLayerGetter: a model's leading children run in
order, returning the outputs of the named ones, as detection and segmentation programs use
it to take a classification backbone's feature maps (DETR: {'layer4': '0'})."""
from collections import OrderedDict

from ...nn import ModuleDict


class IntermediateLayerGetter(ModuleDict):
    """Keeps `model`'s children up to the last one named in return_layers ({child name:
    output key}); forward(x) runs them in order and returns an OrderedDict of the named
    children's outputs under their keys. Only direct children can be named, and the model's
    forward is not used (children are called one after another)."""

    def __init__(self, model, return_layers):
        names = [name for name, _ in model.named_children()]
        if not set(return_layers).issubset(names):
            raise ValueError(f"return_layers are not present in model: "
                             f"{sorted(set(return_layers) - set(names))} are not among its "
                             f"children {names}")
        wanted = {str(k): str(v) for k, v in return_layers.items()}
        left = set(wanted)
        layers = OrderedDict()
        for name, module in model.named_children():
            layers[name] = module
            left.discard(name)
            if not left:
                break
        super().__init__(layers)
        self.return_layers = wanted

    def forward(self, x):
        out = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out
