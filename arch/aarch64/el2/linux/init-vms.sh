#!/bin/busybox sh
# init-vms.sh - the initramfs's VM workload for hyplog-kvm.ko (arch/aarch64/el2/linux), run
# by /init pinned to each CPU (busybox taskset -c CPU init-vms.sh CPU) after the module is
# loaded. Each CPU starts VMs until KCore has no vmid left (write fails with ENOSPC): every
# VM's vCPUs run on all CPUs at once (the driver's per-vCPU threads). CPU 0 also runs the
# forbidden attempts that need no VM.
B=/bin/busybox
c=$1
[ "$c" = 0 ] && echo forbidden >/dev/hyplog-kvm
n=0
while echo run >/dev/hyplog-kvm 2>/dev/null; do
	n=$((n + 1))
done
$B echo "hyplog-kvm: cpu $c started $n VMs"
