// Package graphsync is the domain of graphsync: the vocabulary every other
// package speaks. It holds no I/O.
//
// # Resources
//
// A Resource (Mail, Calendar, Contacts, Drive, Chats, People, and Users for
// an application connection's user discovery) is described once, in its own
// file: its name, the Graph Service whose limits it counts against, the
// permissions it needs, its Shape (how the sync engine reads it) and its
// Tables. A Table names its SQL table, key and columns, maps one item from
// Graph to a Row, tells full items from partial updates and deletions, and
// declares the behaviours the store applies to it (containers, cascades,
// child rows, trees, windows). The store writes any Table; the engine reads
// any Shape; adding a resource of an existing shape is its descriptor, its
// migration, its emulator support and its tests.
//
// # Streams and scopes
//
// A Stream is one checkpointed unit of sync: connection, user, resource and
// container (a mail folder, a chat). A Scope is what one Graph throttling
// limit applies to: a mailbox (Outlook, People) or one service of a tenant
// (Teams, OneDrive, the directory); ScopeOf is the one place that decides
// which. Both have one text form (String) and one parser.
//
// # Items
//
// Graph items stay raw JSON until they are mapped, so one bad record cannot
// fail a page: decode each with DecodeMessage and friends, quarantine the
// record on a *DecodeError.
package graphsync
