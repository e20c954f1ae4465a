// The VM records of the cluster state, by name: a sorted map (listings,
// snapshots, name ranges) with a hash index over it, so that a lookup by
// name is one probe instead of a walk down a tree of string comparisons.
// Apply looks a command's VM up several times, on every replica, and with
// hundreds of thousands of records each tree walk is a chain of cache
// misses.
//
// The index holds views of the map's keys and iterators into it, both
// stable while the record exists (std::map never moves its nodes); a copy
// of the table rebuilds the index over its own map, a move takes both.
// The methods keep std::map's names and meaning, so that the state machine
// reads like the map it was. Thread safety: that of std::map (const methods
// may run concurrently; anything else needs exclusive access).
#pragma once

#include <absl/container/flat_hash_map.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "blixard/v1/state.pb.h"

namespace blixard::state {

class VmTable {
 public:
  using Map = std::map<std::string, v1::Vm, std::less<>>;
  using iterator = Map::iterator;
  using const_iterator = Map::const_iterator;

  VmTable() = default;
  VmTable(const VmTable& other) : map_(other.map_) { Reindex(); }
  VmTable& operator=(const VmTable& other) {
    if (this != &other) {
      map_ = other.map_;
      Reindex();
    }
    return *this;
  }
  VmTable(VmTable&&) noexcept = default;
  VmTable& operator=(VmTable&&) noexcept = default;

  iterator find(std::string_view name) {
    auto it = index_.find(name);
    return it == index_.end() ? map_.end() : it->second;
  }
  const_iterator find(std::string_view name) const {
    auto it = index_.find(name);
    return it == index_.end() ? map_.end() : const_iterator(it->second);
  }
  bool contains(std::string_view name) const { return index_.contains(name); }

  // Adds the record `vm` under `name`. REQUIRES: no record has that name.
  // `hint` as for std::map::emplace_hint (the end for names in order).
  iterator emplace_hint(const_iterator hint, std::string name, v1::Vm vm) {
    auto it = map_.emplace_hint(hint, std::move(name), std::move(vm));
    index_.emplace(it->first, it);
    return it;
  }
  void erase(iterator it) {
    index_.erase(std::string_view(it->first));
    map_.erase(it);
  }

  iterator begin() { return map_.begin(); }
  iterator end() { return map_.end(); }
  const_iterator begin() const { return map_.begin(); }
  const_iterator end() const { return map_.end(); }
  Map::const_reverse_iterator rbegin() const { return map_.rbegin(); }
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }
  const Map& map() const { return map_; }

 private:
  void Reindex() {
    index_.clear();
    index_.reserve(map_.size());
    for (auto it = map_.begin(); it != map_.end(); ++it) index_.emplace(it->first, it);
  }

  Map map_;
  absl::flat_hash_map<std::string_view, iterator> index_;
};

}  // namespace blixard::state
