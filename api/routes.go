package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/gorilla/mux"
)

// sharedRouter is an instance's one route table, shared by the Servers of
// every tenant the instance serves. gorilla/mux compiles regexps for each
// of a router's ~50 routes, about 220 KB a router: with a router of its
// own, a thousand tenants cost an instance 220 MB of regexps that all say
// the same thing. With this, a tenant's Server keeps only its handlers
// (leaves): the shared router matches the route, and the route's handler
// calls the leaf of the Server the request is for (serverKey in its
// context; the instance's own Server when none).
//
// Immutable after newSharedRouter.
type sharedRouter struct {
	router *mux.Router
	inst   *Server
	routes []string // each leaf route's path template and methods, in Walk order
}

type serverKey struct{}

// leafRoutes walks r and returns its routes that have a handler, in order,
// with a description of each (its path template and methods).
func leafRoutes(r *mux.Router) (routes []*mux.Route, desc []string) {
	r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if route.GetHandler() == nil {
			return nil // a subrouter's prefix: its routes come next
		}
		tpl, _ := route.GetPathTemplate()
		methods, _ := route.GetMethods()
		routes = append(routes, route)
		desc = append(desc, fmt.Sprint(tpl, methods))
		return nil
	})
	return routes, desc
}

// newSharedRouter turns inst's router r into the instance's shared one:
// inst keeps r's handlers as its leaves, and each route of r now calls the
// leaf of the Server its request is for.
func newSharedRouter(inst *Server, r *mux.Router) *sharedRouter {
	sr := &sharedRouter{router: r, inst: inst}
	routes, desc := leafRoutes(r)
	sr.routes = desc
	inst.leaves = make([]http.Handler, len(routes))
	for i, route := range routes {
		inst.leaves[i] = route.GetHandler()
		route.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			sr.serverOf(req).leaves[i].ServeHTTP(w, req)
		}))
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { sr.serverOf(req).notFound(w, req) })
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		sr.serverOf(req).methodNotAllowed(w, req)
	})
	return sr
}

func (sr *sharedRouter) serverOf(r *http.Request) *Server {
	if s, ok := r.Context().Value(serverKey{}).(*Server); ok {
		return s
	}
	return sr.inst
}

// adopt makes s (a tenant's Server) serve through the shared router, with
// the handlers of own, its own router: built the same way as the
// instance's, checked route by route, then dropped. It reports false, and
// changes nothing, if the two tables differ.
func (sr *sharedRouter) adopt(s *Server, own *mux.Router) (http.Handler, bool) {
	routes, desc := leafRoutes(own)
	if !slices.Equal(desc, sr.routes) {
		return nil, false
	}
	s.leaves = make([]http.Handler, len(routes))
	for i, route := range routes {
		s.leaves[i] = route.GetHandler()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		sr.router.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), serverKey{}, s)))
	}), true
}
