/* bl.c - the adapter tables (one per lock header). */
#include "bl.h"

#include <string.h>

#include "ck_mcs.h"
#include "ck_ticket.h"
#include "hl_mcs.h"
#include "hl_mutex.h"
#include "hl_ticket.h"
#include "pthread_mutex.h"

BL_ADAPTER(ck_ticket, true);
BL_ADAPTER(ck_mcs, true);
BL_ADAPTER(pthread_mutex, false);
BL_ADAPTER(hl_ticket, false);
BL_ADAPTER(hl_mcs, false);
BL_ADAPTER(hl_mutex, false);

const struct bl_adapter *const bl_all[] = {
	&bl_ck_ticket, &bl_ck_mcs, &bl_pthread_mutex, &bl_hl_ticket, &bl_hl_mcs, &bl_hl_mutex, NULL,
};

const struct bl_adapter *bl_find(const char *name)
{
	for (unsigned i = 0; bl_all[i]; i++)
		if (!strcmp(bl_all[i]->name, name))
			return bl_all[i];
	return NULL;
}
