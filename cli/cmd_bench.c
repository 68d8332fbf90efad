/* cmd_bench.c - `hyplog bench`: the benchmark suite (bench/, libhlbench). */
#include "bench.h"
#include "cli.h"

int cmd_bench(int argc, char **argv)
{
	return hlbench_main(argc, argv);
}
