package realtime

import (
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboardhq/switchboard/hub"
)

// Options tune the WebSocket endpoint. The zero value of each field is
// replaced by the default in its comment (DESIGN §4).
type Options struct {
	PingInterval time.Duration // 25 s: keepalive (coder/websocket sends none)
	PongTimeout  time.Duration // 10 s: a ping unanswered this long closes the socket
	AuthTimeout  time.Duration // 10 s: an unauthenticated socket is closed after this
	WriteTimeout time.Duration // 5 s: a write that takes longer closes the socket
	SendQueue    int           // 256: events queued per socket before it is kicked
	ReadLimit    int64         // 16 KiB: largest frame accepted
	RateLimit    rate.Limit    // 20/s sustained frames per socket
	RateBurst    int           // 40
	// AuthRate and AuthBurst bound how often one principal (a customer,
	// an agent) authenticates sockets on an instance: one every 2 s after
	// a burst of 20 (a client backs off between reconnects; tabs, reloads
	// and network changes stay well within it). Reconnecting replays a session, and a client that
	// floods, is closed and reconnects in a loop would have the hub replay
	// it again and again; past the bound the socket closes 4004.
	AuthRate  rate.Limit
	AuthBurst int
	// CustomerSendRate bounds the messages one customer sends (all its
	// sockets on an instance), in a burst of CustomerSendBurst (default
	// twice the rate); past it a send is refused with a limit error and
	// nothing is stored. People type a few messages a second at most; a
	// script that floods its chat within the frame budget would otherwise
	// add its whole budget to the store, to the agent's screen and to every
	// replay of the session. 0 (the default here; cmd/switchboard sets 5)
	// leaves sends bounded by the frame budget only. Agents are staff and
	// are not bounded by it.
	CustomerSendRate  rate.Limit
	CustomerSendBurst int
	// RatingWindow is how long a customer's socket stays open after its
	// session ended, for the rate command; it closes as soon as the
	// customer rated. 0 closes it at once (rating then goes over REST).
	RatingWindow time.Duration
	// AllowedOrigins are host patterns (path.Match syntax, e.g.
	// "shop.example.com", "*.example.com") whose pages may open sockets;
	// the hub's own host is always allowed. A request without Origin (not a
	// browser) is allowed and still needs a token.
	AllowedOrigins []string
	// MaxUnauthPerAddr caps the sockets from one client address (behind
	// trusted proxies, the client's own) that have not authenticated yet;
	// past it an upgrade is refused 429 before any WebSocket exists.
	// Default 100: a browser opens one at a time, and even a large NAT's
	// reconnect storm holds each for milliseconds. Authenticated sockets
	// are not capped per address.
	MaxUnauthPerAddr int
	// MaxUnauth caps the unauthenticated sockets of the instance in all,
	// the same way, for attacks from many addresses; default 10,000
	// (at ~26 KB a socket, 260 MB at worst).
	MaxUnauth int
}

// SetDefaults replaces each zero field by its default.
func (o *Options) SetDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PingInterval, 25*time.Second)
	def(&o.PongTimeout, 10*time.Second)
	def(&o.AuthTimeout, 10*time.Second)
	def(&o.WriteTimeout, 5*time.Second)
	if o.SendQueue <= 0 {
		o.SendQueue = 256
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 16 << 10
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 20
	}
	if o.RateBurst <= 0 {
		o.RateBurst = 40
	}
	if o.AuthRate <= 0 {
		o.AuthRate = 0.5
	}
	if o.AuthBurst <= 0 {
		o.AuthBurst = 20
	}
	if o.CustomerSendRate > 0 && o.CustomerSendBurst <= 0 {
		o.CustomerSendBurst = max(1, int(2*o.CustomerSendRate))
	}
	if o.MaxUnauthPerAddr <= 0 {
		o.MaxUnauthPerAddr = 100
	}
	if o.MaxUnauth <= 0 {
		o.MaxUnauth = 10_000
	}
}

// errAuthRateLimited refuses a principal that authenticates sockets too
// often (Options.AuthRate, AuthBurst).
var errAuthRateLimited = hub.Errorf(hub.ELIMIT, "too many connections; retry later")

// errSendRateLimited refuses a customer's message past
// Options.CustomerSendRate: nothing is stored, and the same
// client_msg_id may be sent again later.
var errSendRateLimited = hub.Errorf(hub.ELIMIT, "rate limited: message not sent; retry later")

// errAlreadyAuthenticated answers a second auth frame.
var errAlreadyAuthenticated = hub.Errorf(hub.EINVALID, "already authenticated")
