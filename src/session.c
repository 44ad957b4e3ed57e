#include "session.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

int
session_id_valid(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++) {
		char c = id[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return i == SESSION_ID_LEN;
}

static char *
session_encode(const struct session *s, size_t *len)
{
	json_object *o = json_object_new_object();
	const char *txt;
	char *out = NULL;

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "k", json_object_new_int(s->kind));
	json_object_object_add(o, "u", json_object_new_string(s->user));
	json_object_object_add(o, "v", json_object_new_string(s->protocol_version));
	json_object_object_add(o, "s", json_object_new_string(s->sock));
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (txt != NULL) {
		out = strdup(txt);
		*len = strlen(txt);
	}
	json_object_put(o);
	return out;
}

static int
session_copy(json_object *o, const char *field, char *out, size_t outsz)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, field, &v) || !json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (strlen(s) >= outsz)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int
session_decode(const struct store_val *v, struct session *out)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *k;
	int rc = STORE_ERROR;

	if (tok == NULL)
		return STORE_ERROR;
	o = json_tokener_parse_ex(tok, v->data, (int)v->len);
	if (o == NULL || !json_object_object_get_ex(o, "k", &k) ||
	    session_copy(o, "u", out->user, sizeof(out->user)) != 0 ||
	    session_copy(o, "v", out->protocol_version, sizeof(out->protocol_version)) != 0 ||
	    session_copy(o, "s", out->sock, sizeof(out->sock)) != 0)
		goto out;
	out->kind = (enum session_kind)json_object_get_int(k);
	out->exp = v->expires;
	rc = STORE_OK;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

int
session_create(struct store *st, struct session *s)
{
	char *val;
	size_t len = 0;
	int rc;

	if (crypto_random_token(s->id, sizeof(s->id), 32) != 0)
		return STORE_ERROR;
	val = session_encode(s, &len);
	if (val == NULL)
		return STORE_ERROR;
	rc = store_put(st, STORE_MCPSESSION, s->id, strlen(s->id), val, len, s->exp,
		       STORE_PUT_INSERT);
	free(val);
	return rc;
}

int
session_get(struct store *st, const char *id, const char *user, struct session *out)
{
	struct store_val v = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	if (!session_id_valid(id))
		return STORE_NOTFOUND;
	rc = store_get(st, STORE_MCPSESSION, id, strlen(id), &v);
	if (rc == STORE_OK)
		rc = session_decode(&v, out);
	store_val_free(&v);
	if (rc == STORE_OK && strcmp(out->user, user) != 0)
		rc = STORE_NOTFOUND; /* another user's session looks like no session */
	if (rc == STORE_OK)
		snprintf(out->id, sizeof(out->id), "%s", id);
	else
		memset(out, 0, sizeof(*out));
	return rc;
}

struct session_upd {
	const struct session *s;
	int del;
	char *val;
	size_t len;
};

static int
session_upd_fn(const struct store_val *cur, void **newdata, size_t *newlen, time_t *newexp,
	       void *arg)
{
	struct session_upd *u = arg;
	struct session old;

	if (cur == NULL || session_decode(cur, &old) != STORE_OK ||
	    strcmp(old.user, u->s->user) != 0)
		return STORE_NOTFOUND;
	if (u->del) {
		*newdata = NULL;
		return STORE_OK;
	}
	*newdata = u->val;
	*newlen = u->len;
	*newexp = u->s->exp;
	return STORE_OK;
}

int
session_update(struct store *st, const struct session *s)
{
	struct session_upd u = {s, 0, NULL, 0};
	int rc;

	if (!session_id_valid(s->id))
		return STORE_NOTFOUND;
	u.val = session_encode(s, &u.len);
	if (u.val == NULL)
		return STORE_ERROR;
	rc = store_update(st, STORE_MCPSESSION, s->id, strlen(s->id), session_upd_fn, &u);
	free(u.val);
	return rc;
}

int
session_delete(struct store *st, const char *id, const char *user)
{
	struct session s;
	struct session_upd u = {&s, 1, NULL, 0};

	memset(&s, 0, sizeof(s));
	if (!session_id_valid(id) || strlen(user) >= sizeof(s.user))
		return STORE_NOTFOUND;
	memcpy(s.user, user, strlen(user) + 1);
	return store_update(st, STORE_MCPSESSION, id, strlen(id), session_upd_fn, &u);
}
