/*
 * spool_tu_index.h - for the index tests (test_spool_scan.c, test_spool_cache.c):
 * two indexes (struct sp_index, spool_int.h) are equal field by field: what
 * a scan, a parallel scan and a cache load must all agree on.  Include after
 * cmocka.h and spool_int.h.
 */
#ifndef SPOOL_TU_INDEX_H
#define SPOOL_TU_INDEX_H

static inline void
tu_assert_same_index(const struct sp_index *a, const struct sp_index *b)
{
	uint32_t i;
	unsigned k;

	assert_int_equal(a->n, b->n);
	assert_int_equal(a->nkw, b->nkw);
	for (k = 0; k < a->nkw; k++)
		assert_string_equal(a->kw[k], b->kw[k]);
	assert_int_equal(a->uidvalidity, b->uidvalidity);
	assert_int_equal(a->uidnext, b->uidnext);
	assert_int_equal(a->has_base, b->has_base);
	assert_int_equal(a->base_pseudo, b->base_pseudo);
	assert_int_equal(a->pseudo_end, b->pseudo_end);
	assert_int_equal(a->base_validity, b->base_validity);
	assert_int_equal(a->base_next, b->base_next);
	assert_int_equal(a->base_next_off, b->base_next_off);
	assert_int_equal(a->base_nkw, b->base_nkw);
	assert_int_equal(a->size, b->size);
	for (i = 0; i < a->n; i++) {
		const struct sp_msg *x = &a->msg[i], *y = &b->msg[i];
		const struct sp_ixmsg *u = &a->ix[i], *v = &b->ix[i];

		if (x->from_off != y->from_off || x->hdr_off != y->hdr_off ||
		    x->body_off != y->body_off || x->end_off != y->end_off ||
		    x->size != y->size || x->hdr_size != y->hdr_size ||
		    x->body_lines != y->body_lines || x->uid != y->uid ||
		    x->flags != y->flags || x->keywords != y->keywords ||
		    x->internaldate != y->internaldate ||
		    u->state_off != v->state_off || u->state_end != v->state_end ||
		    u->fromhash != v->fromhash || u->disk_uid != v->disk_uid ||
		    u->disk_flags != v->disk_flags || u->disk_kw != v->disk_kw ||
		    u->split != v->split || u->uid_ok != v->uid_ok ||
		    u->dirty != v->dirty)
			fail_msg("message %u differs (from %lld/%lld, uid %u/%u, "
			    "keywords %x/%x)", i, (long long)x->from_off,
			    (long long)y->from_off, x->uid, y->uid, x->keywords,
			    y->keywords);
	}
}

#endif
