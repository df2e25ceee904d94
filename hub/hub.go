// Package hub is Switchboard's domain: sessions and their state machine,
// agents, the errors every surface renders, and the policies (limits,
// retention) that apply to them.
//
// It imports neither HTTP routing nor Redis. Storage is reached through the
// small interfaces declared here (SessionStore, AgentStore), which
// hub/redisstore implements; api renders hub values and hub errors in each
// surface's own format; cmd/switchboard wires the concrete types together.
package hub
