/* dist/scripts.h — the Lua scripts of a task's life (dist/scripts.c). */
#ifndef WEFT_DIST_SCRIPTS_H
#define WEFT_DIST_SCRIPTS_H

#include "dist/internal.h"

enum { DIST_SUBMIT, DIST_START, DIST_FINISH, DIST_CANCEL, DIST_REQUEUE, DIST_PROMOTE,
       DIST_TAKE, DIST_NSCRIPTS };
enum { DIST_MAX_ARGS = 110 };                 /* TAKE: 2 + up to 100 entry ids */

/* The scripts' SHA1s on one server (as SCRIPT LOAD gave them). */
typedef struct dist_scripts {
    char sha[DIST_NSCRIPTS][48];
    bool loaded;                     /* sha filled: set once, before the scripts are shared */
} dist_scripts;

/* Loads every script on r's server, now and on each of r's later connections (a
 * restarted server has lost them): 0 or an error. Blocks. */
int dist_scripts_load(weft_redis *r, dist_scripts *s);
/* Sends EVALSHA for script `which` with n arguments; cb gets the outcome on the
 * connection's I/O thread (dist_redis_send_cb). A NOSCRIPT error cannot happen on a
 * connection of ours: the scripts are loaded on each new connection first. Never blocks. */
int dist_eval_send_cb(weft_redis *r, const dist_scripts *s, int which, int n,
                      const char *const *argv, const size_t *lens, dist_reply_cb cb, void *arg);
bool dist_noscript(const weft_redis_reply *rep);
/* EVALSHA and wait, loading the scripts again once if the server lost them: as
 * weft_redis_call (0 or WEFT_EREDIS with *out set; other errors with *out NULL). Blocks. */
int dist_eval(weft_redis *r, dist_scripts *s, int which, weft_redis_reply **out,
              int64_t timeout, int n, const char *const *argv, const size_t *lens);

#endif /* WEFT_DIST_SCRIPTS_H */
