/* hyplog_bench.c - standalone benchmark program (meson `benchmark()`s run it per suite). */
#include "bench.h"

int main(int argc, char **argv)
{
	return hlbench_main(argc, argv);
}
