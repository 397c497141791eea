package raft

// Logger receives raft's diagnostic output. Messages are short sentences
// followed by kebab-case key=value fields, starting with raft-id and term, so
// one node's story can be grepped. A *zap.SugaredLogger satisfies it.
type Logger interface {
	Debugf(format string, args ...any)
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
	Errorf(format string, args ...any)
}

// DiscardLogger drops everything. It is the default.
type DiscardLogger struct{}

func (DiscardLogger) Debugf(string, ...any) {}
func (DiscardLogger) Infof(string, ...any)  {}
func (DiscardLogger) Warnf(string, ...any)  {}
func (DiscardLogger) Errorf(string, ...any) {}
