/* SPDX-License-Identifier: MIT */
/*
 * Tables for "channels" and "stats": rows are the JSON objects the broker
 * returns, columns are a table of (header, key, kind). Column widths fit
 * the widest cell, text is left-aligned and numbers right-aligned, like
 * ps(1), so the output reads well and still splits on whitespace.
 */
#include "build-config.h"

#include <inttypes.h>
#include <string.h>

#include "cli.h"

/* Wide enough for a channel name (255 bytes) or any client name the broker accepts. */
#define CLI_CELL_MAX          512
#define CLI_TABLE_COLUMNS_MAX 16

/**
 * cli_json_parse() - parse JSON the broker sent and check its top-level type.
 * @what: the request, for the message ("channel list").
 * Return: 0; EX_PROTOCOL after a message.
 */
int cli_json_parse(const char *text, json_type type, const char *what, json_t **ret) {
        json_error_t err;
        json_t *v;

        v = json_loads(text, JSON_REJECT_DUPLICATES, &err);
        if (!v)
                return cli_error(EX_PROTOCOL, "the broker sent an unreadable %s: %d:%d: %s", what,
                                 err.line, err.column, err.text);
        if (json_typeof(v) != type) {
                json_decref(v);
                return cli_error(EX_PROTOCOL, "the broker sent a %s of the wrong JSON type", what);
        }
        *ret = v;
        return 0;
}

/**
 * cli_print_json_text() - print JSON text from the broker as one line of
 * output, adding the final newline it may lack.
 * Return: 0; EX_IOERR.
 */
int cli_print_json_text(const char *text) {
        size_t len = strlen(text);

        fputs(text, stdout);
        if (len == 0 || text[len - 1] != '\n')
                fputc('\n', stdout);
        return cli_flush_stdout();
}

/* One cell as text; a missing or mistyped member shows as "-". */
static const char *cell_format(const json_t *row, const struct cli_column *col, char *buf,
                               size_t size) {
        const json_t *v = json_object_get(row, col->key);
        const char *s;

        switch (col->kind) {
        case CLI_COLUMN_STRING:
                s = json_string_value(v);
                return s && *s ? s : "-";
        case CLI_COLUMN_INTEGER:
                if (!json_is_integer(v))
                        return "-";
                (void)snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return buf;
        case CLI_COLUMN_BOOLEAN:
                return !json_is_boolean(v) ? "-" : json_is_true(v) ? "yes" : "no";
        default:
                return "-";
        }
}

static void table_widths(const json_t *rows, const struct cli_column *columns, size_t n_columns,
                         int *widths) {
        char buf[CLI_CELL_MAX];
        const json_t *row;
        size_t i, len;

        for (size_t c = 0; c < n_columns; c++)
                widths[c] = (int)strlen(columns[c].header);
        json_array_foreach(rows, i, row) {
                for (size_t c = 0; c < n_columns; c++) {
                        len = strlen(cell_format(row, &columns[c], buf, sizeof(buf)));
                        widths[c] = MAX(widths[c], (int)MIN(len, (size_t)CLI_CELL_MAX));
                }
        }
}

/* Print one line; the last column is not padded, so lines carry no trailing blanks. */
static void table_line(FILE *f, const char *const *cells, const struct cli_column *columns,
                       size_t n_columns, const int *widths) {
        for (size_t c = 0; c < n_columns; c++) {
                bool last = c + 1 == n_columns;
                bool right = columns[c].kind == CLI_COLUMN_INTEGER;

                if (right)
                        fprintf(f, "%*s", widths[c], cells[c]);
                else
                        fprintf(f, "%-*s", last ? 0 : widths[c], cells[c]);
                fputs(last ? "\n" : "  ", f);
        }
}

/**
 * cli_table_print() - print a JSON array of objects as an aligned table
 * with a header line.
 * Return: 0; EX_SOFTWARE when there are more columns than supported.
 */
int cli_table_print(FILE *f, const json_t *rows, const struct cli_column *columns,
                    size_t n_columns) {
        char bufs[CLI_TABLE_COLUMNS_MAX][CLI_CELL_MAX];
        const char *cells[CLI_TABLE_COLUMNS_MAX];
        int widths[CLI_TABLE_COLUMNS_MAX];
        const json_t *row;
        size_t i;

        if (n_columns > CLI_TABLE_COLUMNS_MAX)
                return cli_error(EX_SOFTWARE, "table of %zu columns", n_columns);
        table_widths(rows, columns, n_columns, widths);
        for (size_t c = 0; c < n_columns; c++)
                cells[c] = columns[c].header;
        table_line(f, cells, columns, n_columns, widths);
        json_array_foreach(rows, i, row) {
                for (size_t c = 0; c < n_columns; c++)
                        cells[c] = cell_format(row, &columns[c], bufs[c], sizeof(bufs[c]));
                table_line(f, cells, columns, n_columns, widths);
        }
        return 0;
}
