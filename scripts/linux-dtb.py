#!/usr/bin/env python3
"""linux-dtb.py - rewrite QEMU virt's dumped device tree for the EL2 image's Linux host
(scripts/linux-fetch; issue 12): the memory node becomes the engine's s2page RAM (all of
QEMU's RAM), each --reserve range (KCore's own memory: COREVISOR's in s2page) becomes a
/reserved-memory child with no-map (Linux never maps it, so never touches it), /chosen gets
bootargs and the initrd range, and nodes named with --drop go (the PCIe host: its ECAM at
0x4010000000 is above RAM's end, which the engine refuses to the host). A flattened device
tree (v17) parser/writer: no dtc needed.

usage: linux-dtb.py IN.dtb OUT.dtb --ram BASE SIZE [--reserve BASE SIZE]... --initrd START END
                    --bootargs STR [--drop NODE]...
"""
import argparse
import struct
import sys

FDT_MAGIC, BEGIN, END, PROP, NOP, ENDT = 0xD00DFEED, 1, 2, 3, 4, 9


def parse(blob):
    (magic, total, off_st, off_str, off_rsv, ver, _lc, _boot, sz_str, sz_st) = struct.unpack_from(">10I", blob, 0)
    if magic != FDT_MAGIC or ver < 17:
        sys.exit("linux-dtb: not a v17 flattened device tree")
    strs = blob[off_str:off_str + sz_str]
    rsv, o = [], off_rsv
    while True:
        a, s = struct.unpack_from(">QQ", blob, o)
        o += 16
        if a == 0 and s == 0:
            break
        rsv.append((a, s))

    def name_at(off):
        return strs[off:strs.index(b"\0", off)].decode()

    o, stack, root = off_st, [], None
    while True:
        (tok,) = struct.unpack_from(">I", blob, o)
        o += 4
        if tok == BEGIN:
            e = blob.index(b"\0", o)
            node = {"name": blob[o:e].decode(), "props": [], "kids": []}
            o = (e + 4) & ~3
            if stack:
                stack[-1]["kids"].append(node)
            else:
                root = node
            stack.append(node)
        elif tok == PROP:
            ln, no = struct.unpack_from(">II", blob, o)
            o += 8
            stack[-1]["props"].append([name_at(no), blob[o:o + ln]])
            o = (o + ln + 3) & ~3
        elif tok == END:
            stack.pop()
        elif tok == NOP:
            pass
        elif tok == ENDT:
            break
        else:
            sys.exit("linux-dtb: bad token %d" % tok)
    return root, rsv


def write(root, rsv):
    st, strs, stoff = bytearray(), bytearray(), {}

    def soff(n):
        if n not in stoff:
            stoff[n] = len(strs)
            strs.extend(n.encode() + b"\0")
        return stoff[n]

    def emit(node):
        st.extend(struct.pack(">I", BEGIN) + node["name"].encode() + b"\0")
        st.extend(b"\0" * (-len(st) % 4))
        for n, v in node["props"]:
            st.extend(struct.pack(">III", PROP, len(v), soff(n)) + v)
            st.extend(b"\0" * (-len(st) % 4))
        for k in node["kids"]:
            emit(k)
        st.extend(struct.pack(">I", END))

    emit(root)
    st.extend(struct.pack(">I", ENDT))
    rs = b"".join(struct.pack(">QQ", a, s) for a, s in rsv) + b"\0" * 16
    off_rsv = 40
    off_st = off_rsv + len(rs)
    off_str = off_st + len(st)
    total = off_str + len(strs)
    hdr = struct.pack(">10I", FDT_MAGIC, total, off_st, off_str, off_rsv, 17, 16, 0, len(strs), len(st))
    return hdr + rs + bytes(st) + bytes(strs)


def prop(node, name, value=None):
    for p in node["props"]:
        if p[0] == name:
            if value is not None:
                p[1] = value
            return p[1]
    if value is not None:
        node["props"].append([name, value])
    return value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--ram", nargs=2, type=lambda s: int(s, 0), required=True)
    ap.add_argument("--initrd", nargs=2, type=lambda s: int(s, 0), required=True)
    ap.add_argument("--bootargs", required=True)
    ap.add_argument("--drop", action="append", default=[], help="remove this top-level node (name prefix)")
    ap.add_argument("--reserve", nargs=2, type=lambda s: int(s, 0), action="append", default=[],
                    help="a no-map /reserved-memory range inside --ram")
    a = ap.parse_args()
    root, rsv = parse(open(a.inp, "rb").read())
    if struct.unpack(">I", prop(root, "#address-cells"))[0] != 2 or struct.unpack(">I", prop(root, "#size-cells"))[0] != 2:
        sys.exit("linux-dtb: root #address-cells/#size-cells are not 2/2")
    mem = [k for k in root["kids"] if k["name"].startswith("memory@")]
    if len(mem) != 1:
        sys.exit("linux-dtb: expected one memory node, found %d" % len(mem))
    base, size = a.ram
    mem[0]["name"] = "memory@%x" % base
    prop(mem[0], "reg", struct.pack(">QQ", base, size))
    if a.reserve:
        if any(k["name"] == "reserved-memory" for k in root["kids"]):
            sys.exit("linux-dtb: the tree already has a /reserved-memory node")
        rm = {"name": "reserved-memory", "kids": [],
              "props": [["#address-cells", struct.pack(">I", 2)], ["#size-cells", struct.pack(">I", 2)],
                        ["ranges", b""]]}
        for rb, rs in a.reserve:
            if rs == 0 or rb < base or rb + rs > base + size:
                sys.exit("linux-dtb: --reserve %#x %#x is not inside --ram" % (rb, rs))
            rm["kids"].append({"name": "kcore@%x" % rb, "kids": [],
                               "props": [["reg", struct.pack(">QQ", rb, rs)], ["no-map", b""]]})
        root["kids"].append(rm)
    for d in a.drop:
        n = len(root["kids"])
        root["kids"] = [k for k in root["kids"] if not k["name"].startswith(d)]
        if len(root["kids"]) == n:
            sys.exit("linux-dtb: no node %s to drop" % d)
    chosen = [k for k in root["kids"] if k["name"] == "chosen"]
    if not chosen:
        chosen = [{"name": "chosen", "props": [], "kids": []}]
        root["kids"].append(chosen[0])
    c = chosen[0]
    prop(c, "bootargs", a.bootargs.encode() + b"\0")
    prop(c, "linux,initrd-start", struct.pack(">Q", a.initrd[0]))
    prop(c, "linux,initrd-end", struct.pack(">Q", a.initrd[1]))
    c["props"] = [p for p in c["props"] if p[0] not in ("kaslr-seed", "rng-seed")]
    open(a.out, "wb").write(write(root, rsv))


main()
