package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
)

// TenantPrefix returns the key prefix of tenant id in a deployment whose
// prefix is base: the tenant's id goes inside base's hash tag, so that
// "{sb}" gives "{sb:acme}". Every key of one tenant then shares one Cluster
// slot (its scripts stay atomic) while different tenants hash to
// different slots and so to different shards. The default tenant keeps
// base itself: what a deployment stored before it had tenants is the
// default tenant's, with no migration (docs/tenants.md).
func TenantPrefix(base, id string) string {
	if id == hub.DefaultTenant || id == "" {
		return base
	}
	open := strings.IndexByte(base, '{')
	end := open + strings.IndexByte(base[open:], '}')
	return base[:end] + ":" + id + base[end:]
}

// ForTenant returns a Store over the same Redis client and options whose
// keys and channels are those of tenant id. It costs one small struct: a
// deployment with a thousand tenants holds a thousand of them, no
// connections or goroutines.
func (s *Store) ForTenant(id string) *Store {
	opts := s.opts
	opts.Prefix = TenantPrefix(s.base(), id)
	// A batcher of its own: on a Cluster a tenant's calls all go to its
	// shard, and a shard that fails over holds up only its own tenants'.
	return &Store{rdb: s.rdb, opts: opts, basePrefix: s.base(), sends: newBatcher(s.rdb), fence: opts.Prefix + fenceSuffix}
}

// base returns the deployment's prefix, the one the operator registry
// lives under.
func (s *Store) base() string {
	if s.basePrefix != "" {
		return s.basePrefix
	}
	return s.opts.Prefix
}

// Tenants is the operator registry of tenants, kept under the deployment's
// prefix in two hashes: tenants (id → the tenant as JSON) and tenant-keys
// (the SHA-256 of an admin key → tenant id). Both share the deployment's
// hash tag, so a change of both is one MULTI, on Cluster too.
type Tenants struct {
	rdb    redis.UniversalClient
	tenant string // key of the tenants hash
	keys   string // key of the tenant-keys hash
	creds  string // key of the tenant-creds hash: "ccai:<key>" or "sdkappid:<n>" → tenant id
}

var _ hub.TenantStore = (*Tenants)(nil)

// credFields are the tenant-creds fields of c.
func credFields(c hub.TenantCredentials) []string {
	var f []string
	if c.CCAIKey != "" {
		f = append(f, hub.CredentialCCAI+":"+c.CCAIKey)
	}
	if c.SDKAppID != 0 {
		f = append(f, hub.CredentialSDKAppID+":"+strconv.FormatUint(c.SDKAppID, 10))
	}
	return f
}

// Tenants returns the operator registry of the deployment s belongs to.
func (s *Store) Tenants() *Tenants {
	base := s.base()
	return &Tenants{rdb: s.rdb, tenant: base + ":tenants", keys: base + ":tenant-keys", creds: base + ":tenant-creds"}
}

var tenantCreateScript = script("tenant_create")

// CreateTenant stores t unless its id is taken, in one script: creating
// many tenants at once (provisioning) does not contend.
func (r *Tenants) CreateTenant(ctx context.Context, t *hub.Tenant) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	n, err := tenantCreateScript.Run(ctx, r.rdb, []string{r.tenant, r.keys}, t.ID, data, t.AdminKeyHash).Int()
	if err != nil {
		return storeError(err)
	}
	if n == 0 {
		return hub.ErrTenantExists
	}
	return nil
}

// Tenant returns tenant id.
func (r *Tenants) Tenant(ctx context.Context, id string) (*hub.Tenant, error) {
	data, err := r.rdb.HGet(ctx, r.tenant, id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, hub.ErrTenantNotFound
	} else if err != nil {
		return nil, storeError(err)
	}
	return decodeTenant(data)
}

// TenantsByID returns those of ids that exist (one HMGET).
func (r *Tenants) TenantsByID(ctx context.Context, ids []string) (map[string]*hub.Tenant, error) {
	out := make(map[string]*hub.Tenant, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	vals, err := r.rdb.HMGet(ctx, r.tenant, ids...).Result()
	if err != nil {
		return nil, storeError(err)
	}
	for _, v := range vals {
		data, ok := v.(string)
		if !ok {
			continue
		}
		t, err := decodeTenant([]byte(data))
		if err != nil {
			return nil, err
		}
		out[t.ID] = t
	}
	return out, nil
}

// Tenants lists every registered tenant by id. The registry is read by the
// operator and by an instance's tenant cache, not on a message's path.
func (r *Tenants) Tenants(ctx context.Context) ([]*hub.Tenant, error) {
	all, err := r.rdb.HGetAll(ctx, r.tenant).Result()
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]*hub.Tenant, 0, len(all))
	for _, data := range all {
		t, err := decodeTenant([]byte(data))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	sortTenants(out)
	return out, nil
}

// UpdateTenant applies u to tenant id. New credentials must not be
// another tenant's (hub.ErrCredentialTaken).
func (r *Tenants) UpdateTenant(ctx context.Context, id string, u hub.TenantUpdate, now time.Time) (*hub.Tenant, error) {
	var taken []string // the new credential fields, checked under WATCH
	if u.Credentials != nil {
		taken = credFields(*u.Credentials)
	}
	return r.change(ctx, id, func(t *hub.Tenant) func(redis.Pipeliner) {
		if u.Name != nil {
			t.Name = *u.Name
		}
		if u.Disabled != nil {
			t.Disabled = *u.Disabled
		}
		if u.Settings != nil {
			t.Settings = *u.Settings
		}
		t.UpdatedAt = now
		if u.Credentials == nil {
			return nil
		}
		old := credFields(t.Credentials)
		t.Credentials = *u.Credentials
		return func(p redis.Pipeliner) {
			if len(old) > 0 {
				p.HDel(ctx, r.creds, old...)
			}
			for _, f := range taken {
				p.HSet(ctx, r.creds, f, id)
			}
		}
	}, func(tx *redis.Tx) error {
		for _, f := range taken {
			owner, err := tx.HGet(ctx, r.creds, f).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			if owner != "" && owner != id {
				return hub.ErrCredentialTaken
			}
		}
		return nil
	})
}

// TenantByCredential returns the tenant whose credential of kind is value.
func (r *Tenants) TenantByCredential(ctx context.Context, kind, value string) (string, error) {
	id, err := r.rdb.HGet(ctx, r.creds, kind+":"+value).Result()
	if errors.Is(err, redis.Nil) {
		return "", hub.ErrTenantNotFound
	} else if err != nil {
		return "", storeError(err)
	}
	return id, nil
}

// RotateTenantKey replaces tenant id's admin key hash with keyHash.
func (r *Tenants) RotateTenantKey(ctx context.Context, id, keyHash string, now time.Time) (*hub.Tenant, error) {
	return r.change(ctx, id, func(t *hub.Tenant) func(redis.Pipeliner) {
		old := t.AdminKeyHash
		t.AdminKeyHash, t.UpdatedAt = keyHash, now
		return func(p redis.Pipeliner) {
			p.HDel(ctx, r.keys, old)
			p.HSet(ctx, r.keys, keyHash, id)
		}
	})
}

// TenantByKey returns the tenant whose admin key hashes to keyHash.
func (r *Tenants) TenantByKey(ctx context.Context, keyHash string) (string, error) {
	id, err := r.rdb.HGet(ctx, r.keys, keyHash).Result()
	if errors.Is(err, redis.Nil) {
		return "", hub.ErrTenantNotFound
	} else if err != nil {
		return "", storeError(err)
	}
	return id, nil
}

// change reads tenant id, lets edit change it (and queue more writes), and
// writes it back in one MULTI that fails, and is retried, if another
// instance changed the tenant meanwhile.
func (r *Tenants) change(ctx context.Context, id string, edit func(*hub.Tenant) func(redis.Pipeliner), checks ...func(*redis.Tx) error) (*hub.Tenant, error) {
	var out *hub.Tenant
	err := r.update(ctx, func(tx *redis.Tx) (func(redis.Pipeliner) error, error) {
		for _, check := range checks {
			if err := check(tx); err != nil {
				return nil, err
			}
		}
		data, err := tx.HGet(ctx, r.tenant, id).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil, hub.ErrTenantNotFound
		} else if err != nil {
			return nil, err
		}
		t, err := decodeTenant(data)
		if err != nil {
			return nil, err
		}
		more := edit(t)
		data, err = json.Marshal(t)
		if err != nil {
			return nil, err
		}
		out = t
		return func(p redis.Pipeliner) error {
			p.HSet(ctx, r.tenant, id, data)
			if more != nil {
				more(p)
			}
			return nil
		}, nil
	})
	return out, err
}

// update runs read under WATCH of both hashes and the writes it returns in
// MULTI, again while another change slipped in between (changes are an
// operator's, rare; creation does not come through here).
func (r *Tenants) update(ctx context.Context, read func(*redis.Tx) (func(redis.Pipeliner) error, error)) error {
	for try := 0; try < 50; try++ {
		err := r.rdb.Watch(ctx, func(tx *redis.Tx) error {
			write, err := read(tx)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, write)
			return err
		}, r.tenant, r.keys, r.creds)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		var he *hub.Error
		if errors.As(err, &he) {
			return err
		}
		return storeError(err)
	}
	return hub.Unavailable(errors.New("tenant registry: too many concurrent changes"))
}

func sortTenants(ts []*hub.Tenant) {
	slices.SortFunc(ts, func(a, b *hub.Tenant) int { return strings.Compare(a.ID, b.ID) })
}

func decodeTenant(data []byte) (*hub.Tenant, error) {
	var t hub.Tenant
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, err
	}
	return &t, nil
}
