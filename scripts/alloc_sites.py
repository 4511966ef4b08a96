#!/usr/bin/env python3
"""Allocation sites per request, for scripts/alloc-per-request.sh --sites: compares two DHAT
profiles of the same case (N1 and N2 requests) site by site and prints the sites whose block
count grows with requests, as blocks per request, heaviest first. A site is the innermost
frames outside the allocator and the standard library's collections.

usage: alloc_sites.py DHAT_N1.json DHAT_N2.json N1 N2 [TOP]
"""
import json
import re
import sys

# Frames that only say "an allocation happened"; the site is the first frame past them.
PLUMBING = re.compile(
    r"(\?\?\?|malloc|calloc|realloc|memalign|posix_memalign|__rust_|alloc::alloc|"
    r"alloc::raw_vec|alloc::vec|alloc::string|alloc::boxed|alloc::sync|alloc::rc|"
    r"alloc::fmt|alloc::collections|core::fmt|<alloc::|<T as alloc::|hashbrown::raw|"
    r"std::collections::hash|bytes::bytes_mut::BytesMut::reserve|RawVec)")


def sites(path, depth=3):
    with open(path) as f:
        d = json.load(f)
    ftbl = d["ftbl"]
    out = {}
    for pp in d["pps"]:
        frames = [ftbl[i] for i in pp["fs"]]
        # "0x1234: name (file:line)" -> "name (file:line)"
        frames = [f.split(": ", 1)[1] if ": " in f else f for f in frames]
        useful = [f for f in frames if not PLUMBING.search(f)]
        key = " <- ".join(useful[:depth]) or " <- ".join(frames[:depth])
        out[key] = out.get(key, 0) + pp["tbk"]
    return out


def main():
    a, b = sites(sys.argv[1]), sites(sys.argv[2])
    n1, n2 = int(sys.argv[3]), int(sys.argv[4])
    top = int(sys.argv[5]) if len(sys.argv) > 5 else 30
    per = {k: (b.get(k, 0) - a.get(k, 0)) / (n2 - n1) for k in set(a) | set(b)}
    rows = sorted(((v, k) for k, v in per.items() if v >= 0.5), reverse=True)
    total = sum(per.values())
    print(f"allocations per request: {total:.1f} (sites at >= 0.5 per request below)")
    for v, k in rows[:top]:
        print(f"{v:6.1f}  {k[:260]}")


if __name__ == "__main__":
    main()
