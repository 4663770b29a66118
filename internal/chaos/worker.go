package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// worker is one `graphsync worker` process.
type worker struct {
	n    int
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set when done closes

	mu       sync.Mutex
	clientID string // River's client id, from the worker's log
	errors   int    // log lines at level ERROR
}

// startWorker runs `graphsync worker` with env, its log in dir.
func startWorker(bin string, env []string, args []string, dir string, n int) (*worker, error) {
	log, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%02d.log", n)))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"worker"}, args...)...)
	cmd.Env = env
	cmd.Stdout = log
	stderr, err := cmd.StderrPipe()
	if err != nil {
		log.Close()
		return nil, err
	}
	w := &worker{n: n, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start worker %d: %w", n, err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		w.scan(stderr, log)
	}()
	go func() {
		<-scanned
		w.err = cmd.Wait()
		log.Close()
		close(w.done)
	}()
	return w, nil
}

// scan copies the worker's JSON log to out and picks up River's client id,
// which names the worker in river_job.attempted_by.
func (w *worker) scan(r io.Reader, out io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = out.Write(append(line, '\n'))
		var rec struct {
			Msg      string `json:"msg"`
			Level    string `json:"level"`
			ClientID string `json:"client_id"`
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		w.mu.Lock()
		if rec.Msg == "River client started" && rec.ClientID != "" {
			w.clientID = rec.ClientID
		}
		if rec.Level == "ERROR" {
			w.errors++
		}
		w.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

func (w *worker) id() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.clientID
}

// waitStarted waits until River has started in the worker or it exited.
func (w *worker) waitStarted(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if w.id() != "" {
			return nil
		}
		select {
		case <-w.done:
			return fmt.Errorf("worker %d exited before starting: %v", w.n, w.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("worker %d did not start within %s", w.n, timeout)
}

// kill sends SIGKILL and waits for the process to be gone.
func (w *worker) kill() {
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
}

// stop asks the worker to finish (SIGTERM) and waits, killing it after grace.
func (w *worker) stop(grace time.Duration) {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(grace):
		w.kill()
	}
}

func (w *worker) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}
