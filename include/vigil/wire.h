/* wire: limits of the agent <-> server protocol that both sides must agree
 * on (see docs/PROTOCOL.md). The agent never sends more; the server refuses
 * more. */
#pragma once

/* Any string member of the inventory document (package name, version, OS name, ...). */
#define VIGIL_WIRE_FIELD_MAX 4096
/* Packages in one inventory document. */
#define VIGIL_WIRE_PACKAGES_MAX 100000
/* Bodies of requests made before authentication (enrollment). */
#define VIGIL_WIRE_UNAUTH_BODY_MAX (64 * 1024)
