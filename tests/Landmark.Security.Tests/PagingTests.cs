using Grpc.Core;
using Landmark.Contracts.Api;
using Xunit;

namespace Landmark.Security.Tests;

/// <summary>List pagination (AIP-158): page sizes, opaque tokens, and the refusal of tokens the server did not issue for
/// the same request.</summary>
public sealed class PagingTests
{
    private static readonly string[] Items = Enumerable.Range(0, 25).Select(i => $"item-{i:D2}").Reverse().ToArray();

    private static List<string> ReadAll(int pageSize, string filter = "")
    {
        var all = new List<string>();
        var token = "";
        do
        {
            var page = Paging.Paginate(Items, i => i, pageSize, token, filter);
            Assert.InRange(page.Items.Count, 1, pageSize);
            all.AddRange(page.Items);
            token = page.NextPageToken;
        }
        while (token.Length > 0);
        return all;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(25)]
    public void Pages_return_every_item_once_in_key_order(int pageSize) =>
        Assert.Equal(Items.Order(StringComparer.Ordinal), ReadAll(pageSize));

    [Fact]
    public void The_last_page_has_no_token_and_a_full_list_fits_one_page()
    {
        var page = Paging.Paginate(Items, i => i, 25, "");
        Assert.Equal(25, page.Items.Count);
        Assert.Equal("", page.NextPageToken);
    }

    [Fact]
    public void Page_size_zero_is_the_default_and_above_the_maximum_is_the_maximum()
    {
        var many = Enumerable.Range(0, Paging.MaxPageSize + 50).Select(i => i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(Paging.DefaultPageSize, Paging.Paginate(many, i => i, 0, "").Items.Count);
        Assert.Equal(Paging.MaxPageSize, Paging.Paginate(many, i => i, int.MaxValue, "").Items.Count);
    }

    [Fact]
    public void An_item_added_behind_the_cursor_is_neither_repeated_nor_does_it_shift_the_next_page()
    {
        var items = new List<string> { "a", "c", "e", "g" };
        var first = Paging.Paginate(items, i => i, 2, "");
        items.Add("b");
        var second = Paging.Paginate(items, i => i, 2, first.NextPageToken);
        Assert.Equal(["a", "c"], first.Items);
        Assert.Equal(["e", "g"], second.Items);
    }

    [Fact]
    public void A_negative_page_size_is_invalid_argument()
    {
        var error = Assert.Throws<RpcException>(() => Paging.Paginate(Items, i => i, -1, ""));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("page_size", error.Status.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a token")]
    [InlineData("eyJhIjoxfQ")] // base64url of {"a":1}: decodes, but is no cursor
    [InlineData("e30")] // {}
    public void A_token_the_server_did_not_issue_is_invalid_argument(string token)
    {
        var error = Assert.Throws<RpcException>(() => Paging.Paginate(Items, i => i, 5, token));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("page_token", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_token_replayed_with_other_filters_is_invalid_argument()
    {
        var token = Paging.Paginate(Items, i => i, 5, "", "role=landmark").NextPageToken;
        Assert.NotEmpty(token);
        Assert.Equal(5, Paging.Paginate(Items, i => i, 5, token, "role=landmark").Items.Count);
        var error = Assert.Throws<RpcException>(() => Paging.Paginate(Items, i => i, 5, token, "role=non-landmark"));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("other filters", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Time_keys_sort_in_time_order_then_by_id()
    {
        var early = new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.FromHours(2));
        var late = new DateTimeOffset(2026, 1, 1, 11, 0, 0, TimeSpan.Zero);
        Assert.True(string.CompareOrdinal(Paging.TimeKey(early, "z"), Paging.TimeKey(late, "a")) < 0);
        Assert.True(string.CompareOrdinal(Paging.TimeKey(late, "a"), Paging.TimeKey(late, "b")) < 0);
    }
}
