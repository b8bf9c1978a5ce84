"""The Vision Transformer (Dosovitskiy et al. 2020, https://arxiv.org/abs/2010.11929) as
torchvision.models builds it (VisionTransformer, vit_b_16, vit_b_32, vit_l_16, vit_l_32,
vit_h_14), over tracecomp.nn.

Module names follow torchvision's (conv_proj, class_token, encoder.pos_embedding,
encoder.layers.encoder_layer_N.{ln_1, self_attention, ln_2, mlp.0, mlp.3}, encoder.ln,
heads.head), so a torchvision checkpoint loads; self_attention is nn.MultiheadAttention
(batch_first), whose in_proj_weight / out_proj keys are torch's. image_size is an argument,
as in torchvision: a small one (e.g. 32) makes a small model for tests.
"""
import math
from collections import OrderedDict
from functools import partial

from ... import _assert, cat, empty, nn, zeros
from ..ops.misc import MLP, Conv2dNormActivation
from ._api import builder, make_weights_enum, preset

__all__ = ["VisionTransformer", "ConvStemConfig", "vit_b_16", "vit_b_32", "vit_l_16",
           "vit_l_32", "vit_h_14"]


# torchvision's default norm: LayerNorm with the original ViT's eps
_LAYER_NORM = partial(nn.LayerNorm, eps=1e-6)


class ConvStemConfig:
    """One conv of an optional convolutional stem (Xiao et al. 2021) in place of the patch
    projection: out_channels, kernel_size, stride, norm and activation layers."""

    def __init__(self, out_channels, kernel_size, stride, norm_layer=nn.BatchNorm2d,
                 activation_layer=nn.ReLU):
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.norm_layer = norm_layer
        self.activation_layer = activation_layer


class MLPBlock(MLP):
    """Linear, GELU, Dropout, Linear, Dropout (keys mlp.0 and mlp.3), xavier-uniform weights
    and N(0, 1e-6) biases."""
    _version = 2

    def __init__(self, in_dim, mlp_dim, dropout):
        super().__init__(in_dim, [mlp_dim, in_dim], activation_layer=nn.GELU, inplace=None,
                         dropout=dropout)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.normal_(m.bias, std=1e-6)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # checkpoints written before torchvision 0.13 name the Linears linear_1 / linear_2
        version = local_metadata.get("version", None)
        if version is None or version < 2:
            for i in range(2):
                for kind in ["weight", "bias"]:
                    old_key = f"{prefix}linear_{i + 1}.{kind}"
                    if old_key in state_dict:
                        state_dict[f"{prefix}{3 * i}.{kind}"] = state_dict.pop(old_key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)


def _check_tokens(x):
    _assert(x.dim() == 3, f"Expected (batch_size, seq_length, hidden_dim) got {x.shape}")


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + attention(ln_1(x)), then + mlp(ln_2(.))."""

    def __init__(self, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout,
                 norm_layer=_LAYER_NORM):
        super().__init__()
        self.num_heads = num_heads
        self.ln_1 = norm_layer(hidden_dim)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads,
                                                    dropout=attention_dropout,
                                                    batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = norm_layer(hidden_dim)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout)

    def forward(self, input):
        _check_tokens(input)
        x = self.ln_1(input)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.dropout(x)
        x = x + input
        y = self.ln_2(x)
        y = self.mlp(y)
        return x + y


class Encoder(nn.Module):
    """Learned position embedding, dropout, num_layers EncoderBlocks, final LayerNorm."""

    def __init__(self, seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
                 attention_dropout, norm_layer=_LAYER_NORM):
        super().__init__()
        # N(0, 0.02) as in BERT
        self.pos_embedding = nn.Parameter(
            nn.init.normal_(empty(1, seq_length, hidden_dim), std=0.02))
        self.dropout = nn.Dropout(dropout)
        layers = OrderedDict()
        for i in range(num_layers):
            layers[f"encoder_layer_{i}"] = EncoderBlock(num_heads, hidden_dim, mlp_dim,
                                                        dropout, attention_dropout,
                                                        norm_layer)
        self.layers = nn.Sequential(layers)
        self.ln = norm_layer(hidden_dim)

    def forward(self, input):
        _check_tokens(input)
        input = input + self.pos_embedding
        return self.ln(self.layers(self.dropout(input)))


class VisionTransformer(nn.Module):
    """torchvision's VisionTransformer: patch_size x patch_size patches projected by a
    strided conv (or a conv stem), a class token prepended, the Encoder, and the class
    token's output through `heads` (head, or pre_logits + tanh + head when
    representation_size is set). Inputs must be image_size x image_size."""

    def __init__(self, image_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim,
                 dropout=0.0, attention_dropout=0.0, num_classes=1000,
                 representation_size=None, norm_layer=_LAYER_NORM,
                 conv_stem_configs=None):
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"VisionTransformer: image_size {image_size} is not divisible "
                             f"by patch_size {patch_size}")
        self.image_size = image_size
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.mlp_dim = mlp_dim
        self.attention_dropout = attention_dropout
        self.dropout = dropout
        self.num_classes = num_classes
        self.representation_size = representation_size
        self.norm_layer = norm_layer

        if conv_stem_configs is not None:
            # the stem must end at the patch grid (strides multiply to patch_size)
            seq_proj = nn.Sequential()
            prev_channels = 3
            for i, cfg in enumerate(conv_stem_configs):
                seq_proj.add_module(f"conv_bn_relu_{i}", Conv2dNormActivation(
                    in_channels=prev_channels, out_channels=cfg.out_channels,
                    kernel_size=cfg.kernel_size, stride=cfg.stride, norm_layer=cfg.norm_layer,
                    activation_layer=cfg.activation_layer))
                prev_channels = cfg.out_channels
            seq_proj.add_module("conv_last", nn.Conv2d(in_channels=prev_channels,
                                                       out_channels=hidden_dim, kernel_size=1))
            self.conv_proj = seq_proj
        else:
            self.conv_proj = nn.Conv2d(in_channels=3, out_channels=hidden_dim,
                                       kernel_size=patch_size, stride=patch_size)

        seq_length = (image_size // patch_size) ** 2
        self.class_token = nn.Parameter(zeros(1, 1, hidden_dim))
        seq_length += 1  # the class token

        self.encoder = Encoder(seq_length, num_layers, num_heads, hidden_dim, mlp_dim,
                               dropout, attention_dropout, norm_layer)
        self.seq_length = seq_length

        heads_layers = OrderedDict()
        if representation_size is None:
            heads_layers["head"] = nn.Linear(hidden_dim, num_classes)
        else:
            heads_layers["pre_logits"] = nn.Linear(hidden_dim, representation_size)
            heads_layers["act"] = nn.Tanh()
            heads_layers["head"] = nn.Linear(representation_size, num_classes)
        self.heads = nn.Sequential(heads_layers)

        if isinstance(self.conv_proj, nn.Conv2d):
            # LeCun normal (truncated) on the patch projection
            fan_in = (self.conv_proj.in_channels * self.conv_proj.kernel_size[0]
                      * self.conv_proj.kernel_size[1])
            nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
            if self.conv_proj.bias is not None:
                nn.init.zeros_(self.conv_proj.bias)
        elif isinstance(getattr(self.conv_proj, "conv_last", None), nn.Conv2d):
            nn.init.normal_(self.conv_proj.conv_last.weight, mean=0.0,
                            std=math.sqrt(2.0 / self.conv_proj.conv_last.out_channels))
            if self.conv_proj.conv_last.bias is not None:
                nn.init.zeros_(self.conv_proj.conv_last.bias)

        if isinstance(getattr(self.heads, "pre_logits", None), nn.Linear):
            fan_in = self.heads.pre_logits.in_features
            nn.init.trunc_normal_(self.heads.pre_logits.weight, std=math.sqrt(1 / fan_in))
            nn.init.zeros_(self.heads.pre_logits.bias)

        # a zero head: an untrained model predicts uniform logits
        if isinstance(self.heads.head, nn.Linear):
            nn.init.zeros_(self.heads.head.weight)
            nn.init.zeros_(self.heads.head.bias)

    def _process_input(self, x):
        """(n, c, h, w) -> (n, (h / p) * (w / p), hidden_dim) patch embeddings."""
        n, c, h, w = x.shape
        p = self.patch_size
        # torchvision's checks, through _assert so that fx's symbolic tracing records them
        _assert(h == self.image_size,
                f"Wrong image height! Expected {self.image_size} but got {h}!")
        _assert(w == self.image_size,
                f"Wrong image width! Expected {self.image_size} but got {w}!")
        n_h = h // p
        n_w = w // p
        x = self.conv_proj(x)
        x = x.reshape(n, self.hidden_dim, n_h * n_w)
        # (n, hidden_dim, seq) -> (n, seq, hidden_dim): the attention takes batch_first
        return x.permute(0, 2, 1)

    def forward(self, x):
        x = self._process_input(x)
        n = x.shape[0]
        batch_class_token = self.class_token.expand(n, -1, -1)
        x = cat([batch_class_token, x], dim=1)
        x = self.encoder(x)
        x = x[:, 0]  # the class token's output only
        return self.heads(x)


def _vision_transformer(patch_size, num_layers, num_heads, hidden_dim, mlp_dim, kwargs):
    image_size = kwargs.pop("image_size", 224)
    return VisionTransformer(image_size=image_size, patch_size=patch_size,
                             num_layers=num_layers, num_heads=num_heads,
                             hidden_dim=hidden_dim, mlp_dim=mlp_dim, **kwargs)


_URL = "https://download.pytorch.org/models/"


def _w(name, *rows, default=None):
    """Rows of (member, file, num_params, transforms): a ViT takes only its own image size,
    so min_size is the preset's crop."""
    return make_weights_enum(
        name, *[(m, _URL + f, n, t, {"min_size": (t.keywords["crop_size"],) * 2})
                for m, f, n, t in rows], default=default)


# the original weights resize to 256 (ViT-L/16: 242) bilinear; the SWAG ones bicubic, end to
# end at their fine-tuning size (E2E) or at 224 (linear probe)
_V1 = preset(224)


# DEFAULT is IMAGENET1K_V1 where there is one (torchvision's choice, not the newest row)
ViT_B_16_Weights = _w("ViT_B_16_Weights",
                      ("IMAGENET1K_V1", "vit_b_16-c867db91.pth", 86567656, _V1),
                      ("IMAGENET1K_SWAG_E2E_V1", "vit_b_16_swag-9ac1b537.pth", 86859496,
                       preset(384, 384, "bicubic")),
                      ("IMAGENET1K_SWAG_LINEAR_V1", "vit_b_16_lc_swag-4e70ced5.pth", 86567656,
                       preset(224, 224, "bicubic")),
                      default="IMAGENET1K_V1")
ViT_B_32_Weights = _w("ViT_B_32_Weights",
                      ("IMAGENET1K_V1", "vit_b_32-d86f8d99.pth", 88224232, _V1))
ViT_L_16_Weights = _w("ViT_L_16_Weights",
                      ("IMAGENET1K_V1", "vit_l_16-852ce7e3.pth", 304326632, preset(224, 242)),
                      ("IMAGENET1K_SWAG_E2E_V1", "vit_l_16_swag-4f3808c9.pth", 305174504,
                       preset(512, 512, "bicubic")),
                      ("IMAGENET1K_SWAG_LINEAR_V1", "vit_l_16_lc_swag-4d563306.pth",
                       304326632, preset(224, 224, "bicubic")),
                      default="IMAGENET1K_V1")
ViT_L_32_Weights = _w("ViT_L_32_Weights",
                      ("IMAGENET1K_V1", "vit_l_32-c7638314.pth", 306535400, _V1))
ViT_H_14_Weights = _w("ViT_H_14_Weights",
                      ("IMAGENET1K_SWAG_E2E_V1", "vit_h_14_swag-80465313.pth", 633470440,
                       preset(518, 518, "bicubic")),
                      ("IMAGENET1K_SWAG_LINEAR_V1", "vit_h_14_lc_swag-c1eb923e.pth",
                       632045800, preset(224, 224, "bicubic")),
                      default="IMAGENET1K_SWAG_E2E_V1")


@builder(ViT_B_16_Weights)
def vit_b_16(**kwargs):
    """ViT-B/16: 12 layers, 12 heads, width 768, 86.6M parameters at 224x224."""
    return _vision_transformer(16, 12, 12, 768, 3072, kwargs)


@builder(ViT_B_32_Weights)
def vit_b_32(**kwargs):
    """ViT-B/32: 12 layers, 12 heads, width 768, 88.2M parameters at 224x224."""
    return _vision_transformer(32, 12, 12, 768, 3072, kwargs)


@builder(ViT_L_16_Weights)
def vit_l_16(**kwargs):
    """ViT-L/16: 24 layers, 16 heads, width 1024, 304.3M parameters at 224x224."""
    return _vision_transformer(16, 24, 16, 1024, 4096, kwargs)


@builder(ViT_L_32_Weights)
def vit_l_32(**kwargs):
    """ViT-L/32: 24 layers, 16 heads, width 1024, 306.5M parameters at 224x224."""
    return _vision_transformer(32, 24, 16, 1024, 4096, kwargs)


@builder(ViT_H_14_Weights)
def vit_h_14(**kwargs):
    """ViT-H/14: 32 layers, 16 heads, width 1280, 632.0M parameters at 224x224 (its
    SWAG_E2E weights are for image_size=518)."""
    return _vision_transformer(14, 32, 16, 1280, 5120, kwargs)
