package api

// UsesInstanceRoutes reports whether s serves through its instance's
// shared router (a tenant's Server that kept no router of its own).
func (s *Server) UsesInstanceRoutes() bool {
	return s.shared == nil && s.leaves != nil && s.instance != nil
}
