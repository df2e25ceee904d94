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
)

// The system statuses of an agent: only the hub sets them.
const (
	AgentAvailable = "Available"
	AgentInCall    = "In-call"
	AgentOffline   = "Offline"
)

// Agent is a person who answers customers.
type Agent struct {
	ID           string
	Name         string
	Email        string // "" for agents registered by an admin assign, until given a login
	Role         Role
	Capacity     int // most sessions it handles at once
	PasswordHash string
	Status       string
	Disabled     bool // a disabled agent cannot log in, and its sockets are closed
	CreatedAt    time.Time
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
