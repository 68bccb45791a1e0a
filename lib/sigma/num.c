/* num: numbers and dates read from field text, for the numeric (lt, lte,
 * gt, gte) and the time (minute ... year) modifiers.
 *
 * Events carry numbers as decimal text, and some use all 64 bits (a cgroup
 * id, an inode); a double keeps 53 of them. So a number is kept as its
 * decimal digits and exponent and compared exactly: two integers of at most
 * 64 bits (either sign) in one integer compare, anything with a fraction or
 * an exponent digit by digit, as decimal floating point. Dates are RFC 3339
 * or ISO 8601 text; their parts are taken as written, without time zone
 * conversion (the specification's warning), and the week is the ISO 8601
 * week number. Nothing here allocates: a struct sigma_num points into the
 * text it was read from. */
#include <stdint.h>
#include <string.h>

#include "sigma/sigma-internal.h"

/* Exponents past this are no number we read (the text is at most
 * SIGMA_NUM_TEXT_MAX bytes, so real digits never get near it). */
#define EXP_MAX 100000000

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* Where the parts of a number's text are: the integer digits [ib, ie),
 * the fraction digits [fb, fe), the exponent, and whether the text is an
 * integer (no point, no exponent). */
struct num_text {
        size_t ib, ie, fb, fe;
        int64_t exp;
        bool integer;
};

/* Reads [+-] digits [. digits] [e [+-] digits], with digits on at least
 * one side of the point, and nothing after it. */
static bool num_scan(const char *s, size_t len, struct num_text *t)
{
        size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
        bool eneg = false;

        *t = (struct num_text){ .integer = true };
        for (t->ib = i; i < len && is_digit(s[i]); i++)
                ;
        t->ie = t->fb = t->fe = i;
        if (i < len && s[i] == '.') {
                t->integer = false;
                for (t->fb = ++i; i < len && is_digit(s[i]); i++)
                        ;
                t->fe = i;
        }
        if (t->ie == t->ib && t->fe == t->fb)
                return false;
        if (i < len && (s[i] == 'e' || s[i] == 'E')) {
                t->integer = false;
                if (++i < len && (s[i] == '+' || s[i] == '-'))
                        eneg = s[i++] == '-';
                if (i >= len || !is_digit(s[i]))
                        return false;
                for (; i < len && is_digit(s[i]); i++) {
                        t->exp = t->exp * 10 + (s[i] - '0');
                        if (t->exp > EXP_MAX)
                                return false;
                }
                if (eneg)
                        t->exp = -t->exp;
        }
        return i == len;
}

bool sigma_num_parse(const char *s, size_t len, struct sigma_num *ret)
{
        struct num_text t;
        int64_t exp;

        if (len == 0 || len > SIGMA_NUM_TEXT_MAX || !num_scan(s, len, &t))
                return false;
        while (t.ib < t.ie && s[t.ib] == '0')
                t.ib++;
        while (t.fe > t.fb && s[t.fe - 1] == '0')
                t.fe--;
        exp = (int64_t)(t.ie - t.ib) + t.exp;
        if (t.ib == t.ie)
                for (; t.fb < t.fe && s[t.fb] == '0'; t.fb++)
                        exp--;
        *ret = (struct sigma_num){
                .int_d = s + t.ib, .n_int = (uint32_t)(t.ie - t.ib),
                .frac_d = s + t.fb, .n_frac = (uint32_t)(t.fe - t.fb),
                .neg = s[0] == '-',
                .exp = t.ib == t.ie && t.fb == t.fe ? 0 : exp,
                .whole = t.integer,
        };
        for (size_t i = t.ib; i < t.ie && ret->whole; i++) {
                uint64_t d = (uint64_t)(s[i] - '0');

                if (ret->mag > (UINT64_MAX - d) / 10)
                        ret->whole = false;     /* past 64 bits: compared digit by digit */
                else
                        ret->mag = ret->mag * 10 + d;
        }
        return true;
}

static char num_digit(const struct sigma_num *n, uint32_t k)
{
        if (k < n->n_int)
                return n->int_d[k];
        k -= n->n_int;
        return k < n->n_frac ? n->frac_d[k] : '0';
}

/* Compares |a| and |b|, both nonzero: the exponent first (the first digit
 * is never 0), then the digits. */
static int num_cmp_mag(const struct sigma_num *a, const struct sigma_num *b)
{
        uint32_t na = a->n_int + a->n_frac, nb = b->n_int + b->n_frac;

        if (a->exp != b->exp)
                return a->exp < b->exp ? -1 : 1;
        for (uint32_t k = 0; k < na || k < nb; k++) {
                char x = num_digit(a, k), y = num_digit(b, k);

                if (x != y)
                        return x < y ? -1 : 1;
        }
        return 0;
}

int sigma_num_cmp(const struct sigma_num *a, const struct sigma_num *b)
{
        bool az = a->n_int + a->n_frac == 0, bz = b->n_int + b->n_frac == 0;
        bool an = a->neg && !az, bn = b->neg && !bz;
        int c;

        if (an != bn)
                return an ? -1 : 1;
        if (az || bz)   /* then an == bn == false */
                return az && bz ? 0 : az ? -1 : 1;
        if (a->whole && b->whole)
                c = a->mag < b->mag ? -1 : a->mag > b->mag;
        else
                c = num_cmp_mag(a, b);
        return an ? -c : c;
}

/* --- dates ------------------------------------------------------------------------ */

/* n digits at s as a number, or -1. */
static int digits(const char *s, size_t n)
{
        int v = 0;

        for (size_t i = 0; i < n; i++) {
                if (!is_digit(s[i]))
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

static bool leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
        static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H.
 * Hinnant's days_from_civil; y >= 0 here, so the eras never go negative
 * except before 0000-03-01, which the floor division handles). */
static int64_t days_from_civil(int y, int m, int d)
{
        int64_t yy = y - (m <= 2);
        int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
        int64_t yoe = yy - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

        return era * 146097 + doe - 719468;
}

/* ISO weekday, Monday 1 .. Sunday 7; 1970-01-01 was a Thursday. */
static int weekday(int64_t days)
{
        return (int)(((days + 3) % 7 + 7) % 7) + 1;
}

static int iso_weeks(int y)
{
        int jan1 = weekday(days_from_civil(y, 1, 1));

        return jan1 == 4 || (jan1 == 3 && leap(y)) ? 53 : 52;
}

/* ISO 8601 week number (1..53) of a valid date: weeks start on Monday and
 * week 1 holds the year's first Thursday. */
static int iso_week(int y, int m, int d)
{
        int64_t days = days_from_civil(y, m, d);
        int ordinal = (int)(days - days_from_civil(y, 1, 1)) + 1;
        int w = (ordinal - weekday(days) + 10) / 7;

        if (w < 1)
                return iso_weeks(y - 1);
        return w > iso_weeks(y) ? 1 : w;
}

/* The time zone and end of a date at s[i]: nothing, Z, or +hh:mm / -hh:mm. */
static bool date_tail(const char *s, size_t len, size_t i)
{
        if (i < len && s[i] == '.') {
                size_t f = ++i;

                while (i < len && is_digit(s[i]))
                        i++;
                if (i == f)
                        return false;
        }
        if (i == len)
                return true;
        if (s[i] == 'Z' || s[i] == 'z')
                return i + 1 == len;
        if ((s[i] != '+' && s[i] != '-') || len - i != 6 || s[i + 3] != ':')
                return false;
        return digits(s + i + 1, 2) >= 0 && digits(s + i + 1, 2) <= 23 && digits(s + i + 4, 2) >= 0 &&
               digits(s + i + 4, 2) <= 59;
}

bool sigma_date_part(const char *s, size_t len, enum sigma_time_unit unit, uint32_t *ret)
{
        int y, mo, d, h, mi, sec;

        /* YYYY-MM-DDTHH:MM:SS: 19 bytes, then [.frac] [Z | +hh:mm] */
        if (len < 19 || len > 64 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' ||
            (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
                return false;
        y = digits(s, 4);
        mo = digits(s + 5, 2);
        d = digits(s + 8, 2);
        h = digits(s + 11, 2);
        mi = digits(s + 14, 2);
        sec = digits(s + 17, 2);
        if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h < 0 || h > 23 || mi < 0 ||
            mi > 59 || sec < 0 || sec > 60 || !date_tail(s, len, 19))
                return false;
        switch (unit) {
        case SIGMA_TIME_MINUTE: *ret = (uint32_t)mi; break;
        case SIGMA_TIME_HOUR: *ret = (uint32_t)h; break;
        case SIGMA_TIME_DAY: *ret = (uint32_t)d; break;
        case SIGMA_TIME_WEEK: *ret = (uint32_t)iso_week(y, mo, d); break;
        case SIGMA_TIME_MONTH: *ret = (uint32_t)mo; break;
        default: *ret = (uint32_t)y; break;
        }
        return true;
}
