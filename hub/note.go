package hub

import (
	"strconv"

	"github.com/switchboardhq/switchboard/hub/jsonhead"
)

// Private notes: staff write them in a session for each other. A note is a
// durable event of the session's stream like a message (its seq keeps the
// stream contiguous for everyone), but no customer surface shows it: a
// customer's socket and event reads get a placeholder with the seq only
// (EventHidden), the customer's history leaves it out, and it has no
// number of the chat-history surface (KF5) and no webhook.

// EventNote is a private note (its message's type is MessageNote).
const EventNote = "note.created"

// EventHidden is what a customer receives in place of a staff-only event:
// its seq and epoch, nothing of it, so that the customer's seqs stay
// contiguous.
const EventHidden = "hidden"

// MessageNote is the message type of a note.
const MessageNote = "chat.note"

// MessageFile is the message type of an attachment (Message.File).
const MessageFile = "chat.file"

// StaffOnly reports whether events of type typ are for staff alone.
func StaffOnly(typ string) bool { return typ == EventNote || typ == EventSessionTags }

// Hidden is the placeholder a customer receives for a staff-only event.
func Hidden(sessionID string, seq int64, epoch string) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	if epoch != "" {
		b = append(b, `,"epoch":`...)
		b = strconv.AppendQuote(b, epoch)
	}
	b = append(b, `,"type":"hidden","session_id":`...)
	b = strconv.AppendQuote(b, sessionID)
	return append(b, '}')
}

// HideFromCustomer returns the event as a customer may see it: itself, or
// for a staff-only one its placeholder.
func HideFromCustomer(sessionID string, event []byte) []byte {
	h, err := jsonhead.ReadHead(event)
	if err != nil || !StaffOnly(h.Type) {
		return event
	}
	return Hidden(sessionID, h.Seq, h.Epoch)
}
