package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

const graphTime = "2006-01-02T15:04:05Z"

type userRec struct {
	id, upn, name, given, surname, job, office, alias string
	tenant                                            string // home tenant id
	obj                                               object
	rng                                               *rand.Rand

	mail           *mailbox
	events         *collection
	drive          *collection
	driveID        string
	od             *driveRec // the OneDrive: drive and driveID are its col and id
	contactFolders *collection
	contacts       map[string]*collection
	// contactsGone are the collections of deleted contact folders, their
	// contacts deleted with them (DeletedTruth).
	contactsGone []*collection
	people       []*person
}

var (
	givenNames = []string{"Adele", "José", "Zoë", "Megan", "Nestor", "Øystein", "Lidia", "Grady", "Isaiah", "Miriam",
		"Łukasz", "Aiko", "Renée", "Björn", "Chloé", "Dmitri", "Émilie", "Farah", "Günther", "Hana", "Ines", "Jürgen",
		"Kwame", "Leilani", "Mateo", "Noor", "Olga", "Priya", "Quentin", "Ruth"}
	surnames = []string{"Vance", "García", "Müller", "Bowen", "Wilke", "Ørsted", "Holt", "Lambert", "Lee", "Graham",
		"Nowak", "Tanaka", "Dubois", "Lindqvist", "Mercier", "Ivanov", "Rousseau", "Haddad", "Schäfer", "Novak",
		"Moreno", "Köhler", "Mensah", "Kahale", "Rossi", "Hassan", "Petrova", "Sharma", "Blanc", "Cohen"}
	jobTitles = []string{"Product Manager", "Developer", "Marketing Manager", "Designer", "Accountant", "Engineer",
		"Sales Lead", "Counsel"}
	words = strings.Fields(`the report budget meeting quarter review draft proposal contract invoice schedule
		project launch customer feedback roadmap update release notes travel expense approval design spec server
		migration backup holiday agenda minutes follow-up deadline priority risk analysis forecast hiring interview
		onboarding policy security audit training workshop offsite vendor pricing renewal support ticket incident
		postmortem café naïve façade résumé über déjà-vu 会议 报告 予定 確認 отчёт встреча 🚀 ✅ 📎`)
	subjectStems = []string{"Re: %s %s", "Fwd: %s %s", "%s – %s", "Quick question about the %s %s",
		"[Action required] %s %s", "%s %s 📅", "Notes: %s %s", "Überblick: %s %s", "会议: %s %s", "%s/%s sync"}
)

func (u *userRec) domain() string { return strings.SplitN(u.upn, "@", 2)[1] }

// generate builds the tenant deterministically from the seed. Dates are
// anchored to the start of the current UTC day so that calendar windows
// around "now" contain data.
func (em *Emulator) generate() {
	em.userByID = map[string]*userRec{}
	em.chats = map[string]*chat{}
	em.tenants = []string{em.cfg.TenantID}
	for k := 1; k < em.cfg.Tenants; k++ {
		em.tenants = append(em.tenants, guidFrom(em.cfg.Seed, fmt.Sprint("tenant", k)))
	}
	em.usersCol = newCollection("#microsoft.graph.user")
	anchor := em.now().UTC().Truncate(24 * time.Hour)
	ver := em.nextVersion()
	for i := 0; i < em.cfg.Users; i++ {
		r := rand.New(rand.NewPCG(uint64(em.cfg.Seed), uint64(i)+1))
		g, s := givenNames[(i+int(em.cfg.Seed&0xff))%len(givenNames)], surnames[(i*7+int(em.cfg.Seed&0xff))%len(surnames)]
		alias := asciiFold(g) + "." + asciiFold(s)
		if i >= len(givenNames) {
			alias += fmt.Sprint(i)
		}
		u := &userRec{
			id: guidFrom(em.cfg.Seed, fmt.Sprint("user", i)), given: g, surname: s, name: g + " " + s,
			upn: alias + "@contoso.onmicrosoft.com", alias: alias, job: jobTitles[i%len(jobTitles)],
			office: fmt.Sprintf("%d/%d", 10+i%20, 1000+r.IntN(3000)), rng: r, tenant: em.tenants[i%len(em.tenants)],
		}
		u.obj = object{}
		u.obj.set("businessPhones", []string{fmt.Sprintf("+1 425 555 %04d", r.IntN(10000))})
		u.obj.set("displayName", u.name)
		u.obj.set("givenName", g)
		u.obj.set("jobTitle", u.job)
		u.obj.set("mail", u.upn)
		u.obj.set("mobilePhone", nil)
		u.obj.set("officeLocation", u.office)
		u.obj.set("preferredLanguage", "en-US")
		u.obj.set("surname", s)
		u.obj.set("userPrincipalName", u.upn)
		u.obj.set("id", u.id)
		em.users = append(em.users, u)
		em.userByID[u.id] = u
		em.usersCol.add(ver, &entry{key: u.id, id: u.id, obj: u.obj})
	}
	for _, u := range em.users {
		em.genMail(u, anchor)
		em.genOther(u, anchor)
	}
	em.genChats(anchor)
	em.genChannels(anchor)
	em.genSites(anchor)
	em.genGroups()
	em.genShares()
}

// asciiFold makes a mail alias from a name: accents dropped, other
// non-ASCII letters removed.
func asciiFold(s string) string {
	repl := strings.NewReplacer("é", "e", "è", "e", "ë", "e", "É", "E", "í", "i", "ó", "o", "ö", "o", "Ø", "O", "ø", "o",
		"á", "a", "ä", "a", "å", "a", "ü", "u", "ú", "u", "ç", "c", "ñ", "n", "Ł", "L", "ł", "l")
	var sb strings.Builder
	for _, r := range strings.ToLower(repl.Replace(s)) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func (em *Emulator) lookupUser(idOrUPN string) *userRec {
	if u, ok := em.userByID[idOrUPN]; ok {
		return u
	}
	for _, u := range em.users {
		if strings.EqualFold(u.upn, idOrUPN) || strings.EqualFold(u.id, idOrUPN) {
			return u
		}
	}
	return nil
}

// outlookID makes an id shaped like Exchange's base64 ids.
func outlookID(prefix string, h uint64, extra uint64) string {
	var b [48]byte
	copy(b[:], "\x00\x00\x00\x00graphemu")
	binary.LittleEndian.PutUint64(b[12:], h)
	binary.LittleEndian.PutUint64(b[20:], extra)
	binary.LittleEndian.PutUint64(b[28:], h^0x9e3779b97f4a7c15)
	binary.LittleEndian.PutUint64(b[36:], extra*0x100000001b3+h)
	return prefix + base64.URLEncoding.EncodeToString(b[:])
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func sentence(r *rand.Rand, n int) string {
	var sb strings.Builder
	writeSentence(&sb, r, n)
	return sb.String()
}

func writeSentence(sb *strings.Builder, r *rand.Rand, n int) {
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(pick(r, words))
	}
}

// bodyText produces about size bytes of prose.
func bodyText(r *rand.Rand, size int) string {
	var sb strings.Builder
	// A sentence adds at most about 250 bytes: one growth for the body.
	sb.Grow(size + 256)
	for sb.Len() < size {
		writeSentence(&sb, r, 8+r.IntN(12))
		sb.WriteString(". ")
		if r.IntN(6) == 0 {
			sb.WriteString("\r\n\r\n")
		}
	}
	return sb.String()
}

// bodySize draws a body size: log-uniform between 0.5 and 20 KB, with an
// occasional huge body of 200–600 KB.
func bodySize(r *rand.Rand) int {
	if r.IntN(300) == 0 {
		return 200_000 + r.IntN(400_000)
	}
	lo, hi := 512.0, 20_480.0
	f := r.Float64()
	return int(lo * math.Pow(hi/lo, f))
}
