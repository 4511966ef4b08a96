"""The parts of scripts/bench.sh's report that issue #20 added: the side-channel table (the
cached read through vaultgate with audit off/on and logging at warn/default, and the access
log on), the issue's targets judged from the same run, and the latency plot.
"""
import bench_plot

# (target name, what is configured); "vaultgate" is the headline: the default configuration
# with a file audit sink.
SIDE = [
    ("vg-noaudit-warn", "no `[audit]`, `VAULTGATE_LOG=warn`"),
    ("vg-noaudit-default", "no `[audit]`, default logging"),
    ("vg-audit-warn", "`[audit] file`, `VAULTGATE_LOG=warn`"),
    ("vaultgate", "`[audit] file`, default logging (what users run; the headline)"),
    ("vg-audit-access", "`[audit] file`, default logging, `[log] requests = true` (access log)"),
]


def side_conns(cfg):
    """The connection count of the side-channel rows: 16 as in the issue when measured."""
    return 16 if 16 in cfg["conns"] else max(cfg["conns"])


def _get(results, target, case, c, key="rps"):
    s = results.get((target, case, c))
    return s[key] if s else float("nan")


def _ratio(a, b):
    return f"{a / b:.2f}×" if b and b == b and a == a else "–"


def side_table(results, cfg):
    c = side_conns(cfg)
    bare = _get(results, "bare", "fixed", c)
    bare_p99 = _get(results, "bare", "fixed", c, "p99")
    proxy = _get(results, "bao-proxy", "uncached", c)
    lines = [f"| vaultgate configuration ({c} connections, cached read) | req/s | ÷ bare rustls "
             "| ÷ `bao proxy` | p50 ms | p99 ms | p99 ÷ bare | CPU µs/req |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, label in SIDE:
        s = results.get((name, "cached", c))
        if not s:
            continue
        lines.append(f"| {label} | {s['rps']:,.0f} | {_ratio(s['rps'], bare)} | "
                     f"{_ratio(s['rps'], proxy)} | {s['p50']:.2f} | {s['p99']:.2f} | "
                     f"{_ratio(s['p99'], bare_p99)} | {s['cpu']:.0f} |")
    return lines if len(lines) > 2 else []


def targets(results, cfg):
    """Issue #20's targets from this run (the caller-curve, RSS and allocation targets are
    measured by scripts/bench-tenants.sh and scripts/alloc-per-request.sh)."""
    c = side_conns(cfg)
    cached = _get(results, "vaultgate", "cached", c)
    checks = [
        (f"cached read ÷ bare rustls at {c} connections", cached,
         _get(results, "bare", "fixed", c), 0.8, True),
        (f"cached read ÷ `bao proxy` at {c} connections", cached,
         _get(results, "bao-proxy", "uncached", c), 40.0, True),
        (f"cached read p99 ÷ bare p99 at {c} connections",
         _get(results, "vaultgate", "cached", c, "p99"),
         _get(results, "bare", "fixed", c, "p99"), 1.5, False),
    ]
    for n in cfg["conns"]:
        checks.append((f"uncached read ÷ OpenBao direct over TLS at {n} connection(s)",
                       _get(results, "vaultgate", "uncached", n),
                       _get(results, "openbao-tls", "uncached", n), 0.9, True))
    lines = ["| target | this run | bound | met |", "|---|---:|---|---|"]
    for label, a, b, bound, at_least in checks:
        if not (a == a and b == b and b):
            continue
        r = a / b
        ok = r >= bound if at_least else r <= bound
        lines.append(f"| {label} | {r:.2f}× | {'≥' if at_least else '≤'} {bound:g}× | "
                     f"{'yes' if ok else '**no**'} |")
    # The machine's ceiling for the `bao proxy` ratio: what the bare server itself reaches.
    bare, proxy = _get(results, "bare", "fixed", c), _get(results, "bao-proxy", "uncached", c)
    if bare == bare and proxy == proxy and proxy:
        lines += ["", f"Ceiling of the `bao proxy` ratio on this machine: the bare rustls server "
                  f"÷ `bao proxy` = {bare / proxy:.1f}× at {c} connections."]
    return lines


def latency_plot(results, cfg, caption):
    """Latency percentiles of each target's main case at the side-channel connection count."""
    c = side_conns(cfg)
    picks = [("bare", "fixed", "bare rustls"), ("vaultgate", "cached", "vaultgate cached"),
             ("vg-audit-access", "cached", "vaultgate cached, access log"),
             ("vg-noaudit-warn", "cached", "vaultgate cached, no audit, warn"),
             ("vaultgate", "denied", "vaultgate denied"),
             ("vaultgate", "uncached", "vaultgate uncached"),
             ("openbao", "uncached", "OpenBao direct (HTTP)"),
             ("openbao-tls", "uncached", "OpenBao direct (TLS)"),
             ("bao-proxy", "uncached", "bao proxy"),
             ("vaultgate", "write", "vaultgate write"), ("openbao", "write", "OpenBao write")]
    rows = []
    for target, case, label in picks:
        s = results.get((target, case, c))
        if s:
            rows.append((label, {"p50": s["p50"], "p90": s["p90"], "p99": s["p99"],
                                 "p99.9": s["p999"]}))
    bench_plot.latency_percentiles(rows, f"{caption}; {c} connections")
