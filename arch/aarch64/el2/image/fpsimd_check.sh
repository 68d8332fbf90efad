#!/bin/sh
# fpsimd_check.sh OBJDUMP NM IMAGE LIBC_A STAMP - fail if a function of the EL2 image that
# picolibc's libc.a also defines (the C library part of the image, whoever supplied it) reads
# or writes an FP/SIMD register: EL2 runs with the host's or a guest's FP/SIMD state live.
# The one intended exception: arch_fpsimd_save / arch_fpsimd_restore (../entry.S), the
# context switch of the FP/SIMD registers (vcpu.c, REFERENCE 5.4), which run only with
# CPTR_EL2.TFP clear and only at the points where a guest's or the host's state is swapped.
# They are exempted by name below (they are not C library functions, so the check would not
# list them today; the exemption stays exact if the check is ever widened).
set -eu
objdump=$1 nm=$2 image=$3 libc=$4 stamp=$5
tmp=${stamp}.tmp
"$nm" --defined-only "$libc" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TtWw]/ {print $3}' | sort -u >"$tmp.libc"
"$objdump" -d "$image" | awk '
	/^[0-9a-f]+ <[^>]+>:$/ { fn = substr($2, 2, length($2) - 3); next }
	/\t/ {
		ops = $0; sub(/^[^\t]*\t[^\t]*\t/, "", ops)     # mnemonic and operands
		if (ops ~ /[ ,{\[](q|v|d|s|h|b)[0-9]+([.,\] }]|$)/ || ops ~ /^(fmov|fcvt|scvtf|ucvtf|movi)/) print fn
	}' | sort -u >"$tmp.fp"
bad=$(comm -12 "$tmp.libc" "$tmp.fp" | grep -vx 'arch_fpsimd_save\|arch_fpsimd_restore' || true)
rm -f "$tmp.libc" "$tmp.fp"
if [ -n "$bad" ]; then
	echo "EL2 image: C library functions that use FP/SIMD registers: $bad" >&2
	echo "(define them in arch/aarch64/el2/image/stdio.c or libc.c, built with -mgeneral-regs-only)" >&2
	exit 1
fi
echo "no FP/SIMD register in the C library functions of $image" >"$stamp"
