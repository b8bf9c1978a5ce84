"""Op-table cases for conv_transpose3d, avg_pool3d, max_pool3d's ceil_mode and ctc_loss,
spliced into op_table.CASES beside the other nn.functional cases. Same conventions as
op_table.py: each `fn` runs with lib = tracecomp or torch. ctc_loss takes log_softmax of its
input first: torch's gradient is the one w.r.t. those logits (ops/ctc.py), which central
differences then check too."""
from op_table import Int, OpCase, unary

CASES = [
    OpCase("F_conv_transpose3d", lambda lib, x, w, b: lib.nn.functional.conv_transpose3d(
        x, w, b, stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 0), groups=2,
        dilation=(1, 2, 1)), (((2, 4, 3, 2, 3), (4, 1, 3, 2, 2), (2,)),
                              ((4, 2, 3, 2), (4, 1, 2, 2, 3), (2,)))),
    unary("F_avg_pool3d", lambda lib, x: (lib.nn.functional.avg_pool3d(
        x, 3, (2, 1, 2), 1, ceil_mode=True, count_include_pad=False),
        lib.nn.functional.avg_pool3d(x, 3, (2, 1, 2), 1, ceil_mode=True),
        lib.nn.functional.avg_pool3d(x, (2, 3, 3), (2, 1, 2), (1, 1, 0), divisor_override=5)),
        shapes=((2, 2, 4, 5, 6), (3, 5, 4, 4))),
    unary("F_max_pool3d_ceil", lambda lib, x: lib.nn.functional.max_pool3d(
        x, 3, 2, 1, ceil_mode=True), "distinct", shapes=((1, 2, 4, 5, 6),)),
    OpCase("F_ctc_loss", lambda lib, x, t: lib.nn.functional.ctc_loss(
        x.log_softmax(2), t, (6, 5, 6), (3, 1, 0))
        + lib.nn.functional.ctc_loss(x.log_softmax(2), t, (6, 6, 4), (3, 3, 3), reduction="sum")
        + lib.nn.functional.ctc_loss(x.log_softmax(2), t.flatten()[:6], (6, 6, 4), (1, 2, 3),
                                     blank=2, reduction="none", zero_infinity=True).sum(),
        (((6, 3, 5), Int((3, 3), 0, 5)),)),
    OpCase("F_ctc_loss_unbatched", lambda lib, x, t: lib.nn.functional.ctc_loss(
        x.log_softmax(1), t, lib.tensor(7), lib.tensor(3), reduction="none"),
        (((7, 4), Int((3,), 1, 4)),)),
]
