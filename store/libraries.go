package store

import (
	"context"
	"fmt"
)

// LibrarySummary sums up the selected SharePoint sites' document
// libraries, every connection's.
type LibrarySummary struct {
	// Sites and Libraries count the live sites and site_drives rows.
	Sites, Libraries int64
	// Items and DeletedItems count the libraries' drive_items rows.
	Items, DeletedItems int64
	// Permissions counts the live permissions library items hold of
	// their own (drive_item_permissions).
	Permissions int64
	// SharedOutside counts the live library files a permission, their own
	// or inherited, opens to someone outside the tenant (drive_item_access).
	SharedOutside int64
}

// Libraries reads LibrarySummary.
func (s *Store) Libraries(ctx context.Context) (LibrarySummary, error) {
	const library = `EXISTS (SELECT 1 FROM site_drives l WHERE l.connection_id = i.connection_id AND l.id = i.drive_id)`
	var l LibrarySummary
	err := s.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM sites WHERE deleted_at IS NULL),
			(SELECT count(*) FROM site_drives WHERE deleted_at IS NULL),
			(SELECT count(*) FILTER (WHERE i.deleted_at IS NULL) FROM drive_items i WHERE `+library+`),
			(SELECT count(*) FILTER (WHERE i.deleted_at IS NOT NULL) FROM drive_items i WHERE `+library+`),
			(SELECT count(*) FROM drive_item_permissions p
				JOIN drive_items i ON i.connection_id = p.connection_id AND i.id = p.item_id
				WHERE p.deleted_at IS NULL AND `+library+`),
			(SELECT count(DISTINCT (i.connection_id, i.item_id)) FROM drive_item_access i
				WHERE i.reaches_outside AND NOT i.is_folder AND `+library+`)`).
		Scan(&l.Sites, &l.Libraries, &l.Items, &l.DeletedItems, &l.Permissions, &l.SharedOutside)
	if err != nil {
		return LibrarySummary{}, fmt.Errorf("sum up the SharePoint libraries: %w", err)
	}
	return l, nil
}
