/*
 * hyplog_linux.c - `hyplog-linux`: the commands that read the EL2 Linux image's logs (boot,
 * check, replay, export), built with s2page covering all of the Linux machine's RAM
 * (HL_RAM_MIB_OVERRIDE = layout.h's LINUX_QEMU_RAM_MIB, issue 12): KCore's own memory lies
 * inside s2page, owned by COREVISOR, so that the engine refuses it to the host. The sizes are
 * build-time (SPEC §3), so a log of that image is read by a build of that size: `hyplog boot
 * --linux` runs this binary when it was built with another RAM size.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hl_const.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "boot", cmd_boot }, { "check", cmd_check }, { "replay", cmd_replay }, { "export", cmd_export },
};

int main(int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (!strcmp(argv[1], commands[i].name))
				return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr,
		"usage: hyplog-linux boot|check|replay|export [OPTIONS]\n"
		"  hyplog's commands for the EL2 Linux image's logs (build: RAM=%u MiB, s2page over all\n"
		"  of the Linux machine's RAM); see `hyplog help COMMAND`\n",
		HL_CFG_RAM_MIB);
	return HL_EXIT_USAGE;
}
