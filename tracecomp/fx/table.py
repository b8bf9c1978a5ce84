"""A plain-text table in the layout of tabulate's default ("simple") format, for
Graph.print_tabular (torch needs the tabulate package for it; this has no dependency)."""


def format_table(rows, headers):
    """Left-aligned columns two spaces apart, a dashed rule under the headers."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)
