package hub

// PrincipalSystem is the kind of the hub itself and of admin-key callers.
const PrincipalSystem = "system"

// Principal is who performs an operation: a customer, an agent (with its
// account role), or the system (admin key, the hub's own policies).
type Principal struct {
	Kind string // PrincipalCustomer, PrincipalAgent or PrincipalSystem
	ID   string
	Name string
	Role Role // for agents
	// SessionID is the session a customer's token was issued with.
	SessionID string
}

// SystemPrincipal acts for admin-key callers and the hub itself.
var SystemPrincipal = Principal{Kind: PrincipalSystem, ID: "system", Name: "System"}

// Privileged reports whether p may act on any session: supervisors, admins
// and the system.
func (p Principal) Privileged() bool {
	return p.Kind == PrincipalSystem ||
		p.Kind == PrincipalAgent && (p.Role == RoleSupervisor || p.Role == RoleAdmin)
}

// Party returns p as events name it.
func (p Principal) Party() *Party { return &Party{Role: p.Kind, ID: p.ID, Name: p.Name} }

// MayRead reports whether p may read session s and follow its events: its
// customer, the agent it is with (or was with, once ended, or is offered
// to), the bot handling it, or a privileged principal.
func (p Principal) MayRead(s *Session) bool {
	switch {
	case p.Privileged():
		return true
	case p.Kind == PrincipalCustomer:
		return s.CustomerID == p.ID
	case p.Kind == PrincipalAgent:
		return s.AgentID == p.ID || s.BotID != "" && s.BotID == p.ID
	}
	return false
}

// MayReadHistory reports whether p may read the past conversations of
// every customer, as the chat-history surfaces allow "agent" permission:
// agents (not bots), supervisors, admins and the system. A customer reads
// only its own sessions (MayRead).
func (p Principal) MayReadHistory() bool {
	return p.Kind == PrincipalSystem || p.Kind == PrincipalAgent && p.Role != RoleBot
}
