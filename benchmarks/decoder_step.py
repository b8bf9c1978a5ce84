"""Eager per-op overhead: one training step of an attention LSTM decoder, tracecomp vs torch.

    .venv/bin/python benchmarks/decoder_step.py [--batch 16] [--hidden 128] [--steps 16]
                                                [--rounds 15] [--profile FILE]

The decoder of "Show, Attend and Tell" image captioning (and of attention seq2seq models):
per time step an additive attention over the encoder's features (Linear layers, a ReLU, a
softmax, a weighted sum, a sigmoid gate), an LSTMCell fed the word embedding and the
attended context, and a Linear to the vocabulary; the loss is the cross-entropy of every
step's logits. One step is forward, backward and an Adam update, about 1,500 small ops on
tensors of a few thousand elements, so its time is the framework's per-op overhead, not
numpy's or torch's arithmetic. Both libraries start from the same weights, run on one
thread (torch.set_num_threads(1), one BLAS thread) and must give the same losses.

Prints each library's step time (the median of interleaved rounds of 3 steps) and the
ratio. --profile FILE writes a cProfile of tracecomp's steps to FILE (pstats format).
"""
import argparse
import os
import statistics
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TRACECOMP_THREADS"):
    os.environ[_var] = "1"      # one BLAS thread; set before numpy loads its BLAS

import numpy as np  # noqa: E402

import tracecomp as tc  # noqa: E402

VOCAB, PIXELS, ENCODER, EMBED, ATTENTION = 500, 16, 64, 32, 64


def decoder(lib, hidden):
    """The decoder module of `lib` (tracecomp or torch): forward(features, captions) ->
    logits (batch, steps, vocab)."""
    nn = lib.nn

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder_att = nn.Linear(ENCODER, ATTENTION)
            self.decoder_att = nn.Linear(hidden, ATTENTION)
            self.full_att = nn.Linear(ATTENTION, 1)
            self.embedding = nn.Embedding(VOCAB, EMBED)
            self.init_h = nn.Linear(ENCODER, hidden)
            self.init_c = nn.Linear(ENCODER, hidden)
            self.f_beta = nn.Linear(hidden, ENCODER)
            self.cell = nn.LSTMCell(EMBED + ENCODER, hidden)
            self.fc = nn.Linear(hidden, VOCAB)

        def forward(self, features, captions):
            mean = features.mean(dim=1)
            h, c = self.init_h(mean).tanh(), self.init_c(mean).tanh()
            att1 = self.encoder_att(features)
            embeddings = self.embedding(captions)
            logits = []
            for t in range(captions.shape[1]):
                att2 = self.decoder_att(h)
                att = self.full_att((att1 + att2.unsqueeze(1)).relu()).squeeze(2)
                alpha = lib.softmax(att, dim=1)
                context = (features * alpha.unsqueeze(2)).sum(dim=1)
                context = lib.sigmoid(self.f_beta(h)) * context
                h, c = self.cell(lib.cat([embeddings[:, t], context], dim=1), (h, c))
                logits.append(self.fc(h))
            return lib.stack(logits, dim=1)
    return Decoder()


def trainer(lib, weights, features, captions, hidden):
    """step() -> loss of one forward, backward and Adam update of a decoder given `weights`."""
    model = decoder(lib, hidden)
    with lib.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(lib.from_numpy(w.copy()))
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    cross_entropy = lib.nn.functional.cross_entropy
    features, captions = lib.from_numpy(features), lib.from_numpy(captions)
    inputs, targets = captions[:, :-1], captions[:, 1:].reshape(-1)

    def step():
        logits = model(features, inputs)
        loss = cross_entropy(logits.reshape(-1, VOCAB), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--steps", type=int, default=16, help="time steps per caption")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--profile", metavar="FILE")
    opts = parser.parse_args()
    import torch
    torch.set_num_threads(1)

    tc.manual_seed(0)
    weights = [p.detach().numpy().copy() for p in decoder(tc, opts.hidden).parameters()]
    rng = np.random.default_rng(0)
    features = rng.standard_normal((opts.batch, PIXELS, ENCODER)).astype(np.float32)
    captions = rng.integers(0, VOCAB, (opts.batch, opts.steps + 1))
    runs = {name: trainer(lib, weights, features, captions, opts.hidden)
            for name, lib in (("tracecomp", tc), ("torch", torch))}

    losses = {name: [run() for _ in range(3)] for name, run in runs.items()}
    if not np.allclose(losses["tracecomp"], losses["torch"], rtol=1e-4):
        sys.exit(f"losses differ: tracecomp {losses['tracecomp']}, torch {losses['torch']}")

    if opts.profile:
        import cProfile
        cProfile.runctx("for _ in range(10): run()", {}, {"run": runs["tracecomp"]},
                        opts.profile)
    times = {name: [] for name in runs}
    for _ in range(opts.rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            for _ in range(3):
                run()
            times[name].append((time.perf_counter() - start) / 3)
    mine, theirs = (statistics.median(times[n]) for n in ("tracecomp", "torch"))
    print(f"decoder step, batch {opts.batch}, hidden {opts.hidden}, {opts.steps} time steps "
          f"(median of {opts.rounds} interleaved rounds of 3):")
    print(f"  tracecomp eager {1e3 * mine:7.2f} ms")
    print(f"  torch eager     {1e3 * theirs:7.2f} ms")
    print(f"  ratio           {mine / theirs:7.2f}x")


if __name__ == "__main__":
    main()
