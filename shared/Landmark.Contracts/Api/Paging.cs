using System.Buffers.Text;
using System.Text.Json;
using Grpc.Core;

namespace Landmark.Contracts.Api;

/// <summary>One page of a List call: the items and the token of the next page (empty on the last page).</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string NextPageToken);

/// <summary>
/// Pagination of the List RPCs (Google AIP-158). Items are ordered by a key the server chooses (ordinal, unique); a
/// page token is opaque to clients and carries the key of the last item returned and the request's filters, so a
/// page never repeats or skips an item that stayed in the list, and a token replayed with other filters, altered or
/// made up is INVALID_ARGUMENT. <c>page_size</c> 0 means <see cref="DefaultPageSize"/>, more than
/// <see cref="MaxPageSize"/> is read as the maximum, a negative one is INVALID_ARGUMENT.
/// </summary>
public static class Paging
{
    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 1000;

    /// <summary>The page of <paramref name="items"/> that <paramref name="pageSize"/> and <paramref name="pageToken"/> ask
    /// for, ordered by <paramref name="key"/>. <paramref name="filter"/> names the request's other fields (the token is
    /// only valid with the same ones).</summary>
    public static Page<T> Paginate<T>(IEnumerable<T> items, Func<T, string> key, int pageSize, string pageToken, string filter = "")
    {
        var size = PageSize(pageSize);
        var after = DecodeToken(pageToken, filter);
        var candidates = after is null ? items : items.Where(item => string.CompareOrdinal(key(item), after) > 0);
        var page = candidates.OrderBy(key, StringComparer.Ordinal).Take(size + 1).ToList();
        if (page.Count <= size)
        {
            return new Page<T>(page, "");
        }
        page.RemoveAt(size);
        return new Page<T>(page, EncodeToken(key(page[^1]), filter));
    }

    /// <summary>The sort key of an item listed by time, then by id: ordinal order of the keys is time order.</summary>
    public static string TimeKey(DateTimeOffset time, string id) => $"{time.UtcTicks:D20}/{id}";

    private static int PageSize(int pageSize) => pageSize switch
    {
        < 0 => throw InvalidPageArgument("page_size", $"page_size must not be negative (got {pageSize})"),
        0 => DefaultPageSize,
        _ => Math.Min(pageSize, MaxPageSize),
    };

    private static string EncodeToken(string after, string filter) =>
        Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new PageCursor(after, filter)));

    private static string? DecodeToken(string pageToken, string filter)
    {
        if (string.IsNullOrEmpty(pageToken))
        {
            return null;
        }
        PageCursor? cursor;
        try
        {
            cursor = JsonSerializer.Deserialize<PageCursor>(Base64Url.DecodeFromChars(pageToken));
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            throw InvalidPageArgument("page_token", "page_token is not a token this server issued");
        }
        if (cursor is not { After.Length: > 0 } || cursor.Filter != filter)
        {
            throw InvalidPageArgument("page_token", cursor is { After.Length: > 0 }
                ? "page_token belongs to a request with other filters"
                : "page_token is not a token this server issued");
        }
        return cursor.After;
    }

    private static RpcException InvalidPageArgument(string field, string description) =>
        ApiErrors.InvalidField(field == "page_token" ? ErrorReasons.PageTokenInvalid : ErrorReasons.ArgumentInvalid, field, description);

    private sealed record PageCursor(string After, string Filter);
}
