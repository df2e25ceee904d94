package hub

import (
	"context"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Role is what an agent account may do.
type Role string

// The roles of an agent account.
const (
	RoleAgent      Role = "agent"      // handles its own sessions
	RoleSupervisor Role = "supervisor" // also sees every session and may join any
	RoleAdmin      Role = "admin"      // also manages agents, teams and configuration
	// RoleBot is a program that takes new sessions first (state Chatbot)
	// and hands them over to the queue; it is never routed queued sessions.
	RoleBot Role = "bot"
)

// ValidRole reports whether r is a role an account may have.
func ValidRole(r Role) bool {
	return r == RoleAgent || r == RoleSupervisor || r == RoleAdmin || r == RoleBot
}

// The system statuses of an agent: only the hub sets them.
const (
	AgentAvailable = "Available"
	AgentInCall    = "In-call"
	AgentOffline   = "Offline"
)

// Agent is a person (or a bot) who answers customers.
type Agent struct {
	ID           string
	Name         string
	Email        string // "" for agents registered by an admin assign, until given a login
	Number       string // the agent_number shown to back-office systems, e.g. "Agent No.111"
	TeamIDs      []string
	Role         Role
	Capacity     int // most sessions it handles (or is offered) at once
	Load         int // the sessions it handles or is offered now
	PasswordHash string
	// Status is what the agent shows: Offline without a live connection,
	// In-call while it handles a session, else Chosen.
	Status string
	// Chosen is the status the agent (or an admin) chose: Available or a
	// custom one. It is kept while the agent is Offline or In-call and
	// shows again when that ends.
	Chosen string
	// StatusSince is when it began to show Status (zero for an agent
	// kept from before reports, until its status next changes).
	StatusSince time.Time
	Online      bool     // a connection is live (not counting a grace period)
	IPs         []string // of its live connections; of the last ones once it is offline
	Disabled    bool     // a disabled agent cannot log in, and its sockets are closed
	CreatedAt   time.Time
}

// ErrAgentNotFound is the error for an unknown agent id or e-mail.
var ErrAgentNotFound = &Error{Code: ENOTFOUND, Message: "agent not found"}

// HashPassword returns the bcrypt hash of password at bcrypt's default cost.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// AgentStore keeps agent accounts.
type AgentStore interface {
	// PutAgent creates or replaces the agent with a's id. An e-mail address
	// already used by another agent is a conflict.
	PutAgent(ctx context.Context, a *Agent) error
	// CreateAgent is PutAgent that refuses an id already in use (ECONFLICT).
	CreateAgent(ctx context.Context, a *Agent) error
	// Agent returns the agent with the given id, or ErrAgentNotFound.
	Agent(ctx context.Context, id string) (*Agent, error)
	// AgentByEmail returns the agent with the given e-mail, or ErrAgentNotFound.
	AgentByEmail(ctx context.Context, email string) (*Agent, error)
	// Agents returns every agent, oldest first.
	Agents(ctx context.Context) ([]*Agent, error)
	// AgentSessions returns the ids of the sessions offered to or handled by the agent.
	AgentSessions(ctx context.Context, id string) ([]string, error)
}

// NormalizeEmail returns the form of an e-mail address used to look agents up.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Team is a group of agents that sessions can be sent to.
type Team struct {
	ID        string // numeric when the hub numbers it
	Name      string
	CreatedAt time.Time
}

// ErrTeamNotFound is the error for an unknown team id.
var ErrTeamNotFound = &Error{Code: ENOTFOUND, Message: "team not found"}

// TeamStore keeps teams. Membership is part of each agent (TeamIDs).
type TeamStore interface {
	// PutTeam creates the team (numbering it when t.ID is "") or renames
	// it, and returns its id. With create, an existing id is a conflict.
	PutTeam(ctx context.Context, t *Team, create bool) (string, error)
	// Team returns one team, or ErrTeamNotFound.
	Team(ctx context.Context, id string) (*Team, error)
	// Teams returns every team, oldest first.
	Teams(ctx context.Context) ([]*Team, error)
	// TeamAgents returns the ids of a team's members.
	TeamAgents(ctx context.Context, id string) ([]string, error)
}
